#!/usr/bin/env bash
# up.sh — the one command tests and CI use to get keyward's two lab AD domains.
#
# Starts (provisioning on first use) CORP1 (realm CORP1.TEST, 127.0.0.2; with a second domain
# controller on 127.0.0.5, start-dc2.sh) and CORP2 (CORP2.TEST, 127.0.0.3) in parallel under $KWLAB_DIR (default /tmp/keyward-lab), seeds each with the
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

start_one() {
  # CORP1 also serves DRS (`rpc`), through which its second DC joins and replicates.
  local services="ldap, cldap, kdc"
  [ "$1" = 1 ] && services="$services, rpc"
  AD_SERVER_SERVICES="$services" "$HERE/start-ad.sh" "$2" "$3" "$4" "$LAB_DIR/${2,,}"
}

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
t0="$(now_ns)"
accounts_stamp() { sha256sum "$HERE/service-accounts.sh" | cut -d' ' -f1; }
accounts_one() {
  local dir="$LAB_DIR/${2,,}"
  if [ -s "$dir/service-accounts.env" ] && [ "$(cat "$dir/.accounts" 2>/dev/null)" = "$(accounts_stamp)" ]; then
    echo "already set up"
    return 0
  fi
  "$HERE/service-accounts.sh" "$dir"
  accounts_stamp >"$dir/.accounts"
}
run_parallel accounts accounts_one || die "could not set up the service accounts"
t_accounts="$(since "$t0")"
# Kerberos: LDAP SPNs, the service accounts' keytabs, one krb5.conf for both realms.
kerberos_stamp() { cat "$HERE/kerberos.sh" "$LAB_DIR"/corp*/.accounts 2>/dev/null | sha256sum | cut -d' ' -f1; }
if [ "$(cat "$LAB_DIR/.kerberos" 2>/dev/null)" != "$(kerberos_stamp)" ] || [ ! -s "$LAB_DIR/krb5.conf" ] ||
   [ ! -s "$LAB_DIR/corp1/kerberos.env" ] || [ ! -s "$LAB_DIR/corp2/kerberos.env" ]; then
  "$HERE/kerberos.sh" "$LAB_DIR" "$LAB_DIR/corp1" "$LAB_DIR/corp2" 9>&- || die "could not set up Kerberos"
  kerberos_stamp >"$LAB_DIR/.kerberos"
fi
# CORP1's second domain controller, then what CORP1 holds now pulled into it (lab/README.md,
# "Two domain controllers"); after that, only lab/replicate-dc2.sh replicates.
t0="$(now_ns)"
DC2_DIR="$LAB_DIR/corp1-dc2"
{ "$HERE/start-dc2.sh" "$LAB_DIR/corp1" 127.0.0.5 "$DC2_DIR" && "$HERE/replicate-dc2.sh" "$DC2_DIR"; } \
  >"$LAB_DIR/corp1-dc2.start.log" 2>&1 9>&- ||
  { tail -n 30 "$LAB_DIR/corp1-dc2.start.log" >&2; die "could not start CORP1's second DC"; }
t_dc2="$(since "$t0")"

ENV_OUT="$LAB_DIR/lab.env"
{
  echo "# keyward lab: two Samba AD domains, written by lab/up.sh. Use: . $ENV_OUT"
  printf 'export KWLAB_DIR=%s\n' "$(shq "$LAB_DIR")"
  printf 'export KWLAB_USER_PASSWORD=%s\n' "$(shq "Start#Pass1")"
  printf 'export KWLAB_KRB5_CONFIG=%s\n' "$(shq "$LAB_DIR/krb5.conf")"
  printf 'export KWLAB_KEYTAB=%s\n' "$(shq "$LAB_DIR/svc-keyward.keytab")"
  for d in "${DOMAINS[@]}"; do
    read -r idx name _ _ <<<"$d"
    dir="$LAB_DIR/${name,,}"
    (
      # shellcheck disable=SC1091
      . "$dir/ad.env"
      for k in NAME NETBIOS REALM IP BASE_DN LDAP_URL LDAPS_URL CA_CERT DC_HOSTNAME DATADIR PID; do
        v="AD_$k"
        printf 'export KWLAB_AD%s_%s=%s\n' "$idx" "$k" "$(shq "${!v}")"
      done
      # keyward binds as the least-privilege service account; tests change AD as ADMIN_*
      printf 'export KWLAB_AD%s_ADMIN_DN=%s\n' "$idx" "$(shq "$AD_BIND_DN")"
      printf 'export KWLAB_AD%s_ADMIN_UPN=%s\n' "$idx" "$(shq "$AD_BIND_UPN")"
      printf 'export KWLAB_AD%s_ADMIN_PASSWORD=%s\n' "$idx" "$(shq "$AD_BIND_PASSWORD")"
      # shellcheck disable=SC1091
      . "$dir/service-accounts.env"
      printf 'export KWLAB_AD%s_BIND_DN=%s\n' "$idx" "$(shq "$SVC_DN")"
      printf 'export KWLAB_AD%s_BIND_UPN=%s\n' "$idx" "$(shq "$SVC_UPN")"
      printf 'export KWLAB_AD%s_BIND_PASSWORD=%s\n' "$idx" "$(shq "$SVC_PASSWORD")"
      printf 'export KWLAB_AD%s_SVC_SID=%s\n' "$idx" "$(shq "$SVC_SID")"
      printf 'export KWLAB_AD%s_NORESET_DN=%s\n' "$idx" "$(shq "$NORESET_DN")"
      printf 'export KWLAB_AD%s_NORESET_PASSWORD=%s\n' "$idx" "$(shq "$NORESET_PASSWORD")"
      printf 'export KWLAB_AD%s_MANIFEST=%s\n' "$idx" "$(shq "$dir/fixtures.json")"
      # shellcheck disable=SC1091
      . "$dir/kerberos.env"
      printf 'export KWLAB_AD%s_KEYTAB=%s\n' "$idx" "$(shq "$KEYTAB")"
      printf 'export KWLAB_AD%s_NORESET_KEYTAB=%s\n' "$idx" "$(shq "$NORESET_KEYTAB")"
      printf 'export KWLAB_AD%s_SYNC_GROUP_DN=%s\n' "$idx" "$(shq "CN=Hideez Users Sync,OU=KeywardLab,$AD_BASE_DN")"
      printf 'export KWLAB_AD%s_ROTATION_GROUP_DN=%s\n' "$idx" \
        "$(shq "CN=Security Key Auto Password Change,OU=KeywardLab,$AD_BASE_DN")"
    )
  done
  (
    # shellcheck disable=SC1091
    . "$DC2_DIR/ad.env"
    for k in IP LDAP_URL LDAPS_URL CA_CERT DC_HOSTNAME DATADIR PID; do
      v="AD_$k"
      printf 'export KWLAB_AD1_DC2_%s=%s\n' "$k" "$(shq "${!v}")"
    done
  )
} >"$ENV_OUT.tmp"
mv -f "$ENV_OUT.tmp" "$ENV_OUT"
log "lab ready: start ${t_start}s, seed ${t_seed}s, service accounts ${t_accounts}s, CORP1 DC2 ${t_dc2}s, total $(since "$t_all")s"
echo "$ENV_OUT"
