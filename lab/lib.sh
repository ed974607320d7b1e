# shellcheck shell=bash
# Helpers for the keyward lab scripts (sourced, not executed).

# shellcheck disable=SC2034  # used by the sourcing scripts
LAB_MARKER=.keyward-lab-ad          # written by start-ad.sh into every DATADIR it creates
LAB_PACKAGES=(samba-ad-dc samba-ad-provision ldap-utils openssl)

log() { printf '%s: %s\n' "${LAB_PROG:-lab}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

now_ns() { date +%s%N; }
# seconds since a now_ns value, 2 decimals
since() { local d=$(( $(date +%s%N) - $1 )); printf '%d.%02d' $((d / 1000000000)) $((d % 1000000000 / 10000000)); }

# Install the Debian packages the lab needs when any is missing. Package scripts are kept from
# starting system services (policy-rc.d), `apt-get update` runs only when the first install fails
# or no package lists exist, and a concurrent apt/dpkg is waited for.
ensure_packages() {
  local missing=() p st
  for p in "${LAB_PACKAGES[@]}"; do
    st="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
    [ "$st" = installed ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "root is needed to install: ${missing[*]}"
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local made_policy=0 rc=0 apt=(apt-get -o DPkg::Lock::Timeout=600 -y -qq)
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
  fi
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    "${apt[@]}" update >&2 || true
  fi
  if ! "${apt[@]}" install --no-install-recommends "${missing[@]}" >&2; then
    "${apt[@]}" update >&2 || true
    "${apt[@]}" install --no-install-recommends "${missing[@]}" >&2 || rc=$?
  fi
  [ $made_policy -eq 1 ] && rm -f /usr/sbin/policy-rc.d
  [ $rc -eq 0 ] || die "apt-get install ${missing[*]} failed (exit $rc)"
  [ -d /usr/share/samba/setup/ad-schema ] || die "samba-ad-provision files missing (/usr/share/samba/setup/ad-schema)"
}

# True when PID is a live samba process whose open files include something under DATADIR
# (its log file), i.e. the samba that start-ad.sh started for this DATADIR and not a recycled PID.
is_our_samba() {
  local pid="$1" datadir="$2" exe
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
  [ "${exe##*/}" = samba ] || return 1
  [ -n "$(find "/proc/$pid/fd" -mindepth 1 -lname "$datadir/*" -print -quit 2>/dev/null)" ]
}

# Quote VALUE for a shell: 'value' with embedded ' escaped.
shq() { local v="${1//\'/\'\\\'\'}"; printf "'%s'" "$v"; }
