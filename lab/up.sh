#!/usr/bin/env bash
# up.sh — the one command tests and CI use to get keyward's two lab AD domains.
#
# Starts (provisioning on first use) CORP1 (realm CORP1.TEST, 127.0.0.2) and CORP2 (CORP2.TEST,
# 127.0.0.3) in parallel under $KWLAB_DIR (default /tmp/keyward-lab), seeds each with the
# fixtures of seed.py once (again only when seed.py changed), and writes
# $KWLAB_DIR/lab.env with `export KWLAB_AD1_*=...` / `KWLAB_AD2_*=...` lines for `. lab.env`.
# Prints the path of lab.env on stdout (everything else goes to stderr).
# Already running and seeded: well under 2 s. Needs root. Stop with down.sh [--purge].
set -euo pipefail
LAB_PROG=up
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
[ $# -eq 0 ] || die "usage: $0   (settings come from the environment: KWLAB_DIR)"

LAB_DIR="${KWLAB_DIR:-/tmp/keyward-lab}"
case "$LAB_DIR" in /*) ;; *) LAB_DIR="$PWD/$LAB_DIR" ;; esac
LAB_DIR="${LAB_DIR%/}"
# index NAME REALM IP
DOMAINS=("1 CORP1 CORP1.TEST 127.0.0.2" "2 CORP2 CORP2.TEST 127.0.0.3")
t_all="$(now_ns)"

[ "$(id -u)" -eq 0 ] || die "must run as root"
mkdir -p "$LAB_DIR"
# one up/down at a time per lab dir (parallel test processes may all call up.sh)
exec 9>"$LAB_DIR/.lock"
flock -w 300 9 || die "another up.sh/down.sh has held $LAB_DIR/.lock for 300 s; giving up"

# once, before the parallel starts, so two apt-get runs do not race
ensure_packages

run_parallel() {  # run_parallel STEP_NAME FUNC: FUNC idx name realm ip for every domain, in parallel
  local step="$1" fn="$2" d idx name realm ip failed=0 p
  local pids=() names=()
  for d in "${DOMAINS[@]}"; do
    read -r idx name realm ip <<<"$d"
    "$fn" "$idx" "$name" "$realm" "$ip" >"$LAB_DIR/${name,,}.$step.log" 2>&1 9>&- &
    pids+=($!); names+=("$name")
  done
  for p in "${!pids[@]}"; do
    if ! wait "${pids[$p]}"; then
      failed=1
      log "$step of ${names[$p]} failed; its output ($LAB_DIR/${names[$p],,}.$step.log):"
      sed 's/^/    /' "$LAB_DIR/${names[$p],,}.$step.log" | tail -n 30 >&2
    fi
  done
  return $failed
}

start_one() { "$HERE/start-ad.sh" "$2" "$3" "$4" "$LAB_DIR/${2,,}"; }

seed_stamp() { sha256sum "$HERE/seed.py" | cut -d' ' -f1; }
seed_one() {
  local dir="$LAB_DIR/${2,,}"
  if [ -f "$dir/.seeded" ] && [ "$(cat "$dir/.seeded")" = "$(seed_stamp)" ] && [ -s "$dir/fixtures.json" ]; then
    echo "already seeded"
    return 0
  fi
  "$HERE/seed.py" --env "$dir/ad.env" --domain-index "$1" --manifest "$dir/fixtures.json"
  seed_stamp >"$dir/.seeded"
}

t0="$(now_ns)"
run_parallel start start_one || die "could not start the lab domains"
t_start="$(since "$t0")"
t0="$(now_ns)"
run_parallel seed seed_one || die "could not seed the lab domains"
t_seed="$(since "$t0")"

ENV_OUT="$LAB_DIR/lab.env"
{
  echo "# keyward lab: two Samba AD domains, written by lab/up.sh. Use: . $ENV_OUT"
  printf 'export KWLAB_DIR=%s\n' "$(shq "$LAB_DIR")"
  printf 'export KWLAB_USER_PASSWORD=%s\n' "$(shq "Start#Pass1")"
  for d in "${DOMAINS[@]}"; do
    read -r idx name _ _ <<<"$d"
    dir="$LAB_DIR/${name,,}"
    (
      # shellcheck disable=SC1091
      . "$dir/ad.env"
      for k in NAME NETBIOS REALM IP BASE_DN BIND_DN BIND_UPN BIND_PASSWORD LDAP_URL LDAPS_URL \
               CA_CERT DC_HOSTNAME DATADIR PID; do
        v="AD_$k"
        printf 'export KWLAB_AD%s_%s=%s\n' "$idx" "$k" "$(shq "${!v}")"
      done
      printf 'export KWLAB_AD%s_MANIFEST=%s\n' "$idx" "$(shq "$dir/fixtures.json")"
      printf 'export KWLAB_AD%s_SYNC_GROUP_DN=%s\n' "$idx" "$(shq "CN=Hideez Users Sync,OU=KeywardLab,$AD_BASE_DN")"
      printf 'export KWLAB_AD%s_ROTATION_GROUP_DN=%s\n' "$idx" \
        "$(shq "CN=Security Key Auto Password Change,OU=KeywardLab,$AD_BASE_DN")"
    )
  done
} >"$ENV_OUT.tmp"
mv -f "$ENV_OUT.tmp" "$ENV_OUT"
log "lab ready: start ${t_start}s, seed ${t_seed}s, total $(since "$t_all")s"
echo "$ENV_OUT"
