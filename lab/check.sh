#!/usr/bin/env bash
# check.sh — sanity checks of a running lab (after up.sh): LDAPS/StartTLS/plain binds as
# Administrator, fixture users binding with their password (and the ones without not), and the
# transitive sync-group filter returning exactly the expected users (also per fixtures.json).
# Read-only. Prints one line per check and "N passed, M failed"; exit status 1 on any failure.
set -uo pipefail
LAB_DIR="${KWLAB_DIR:-/tmp/keyward-lab}"
[ -r "$LAB_DIR/lab.env" ] || { echo "check.sh: no $LAB_DIR/lab.env; run up.sh first" >&2; exit 1; }
# shellcheck disable=SC1091
. "$LAB_DIR/lab.env"
pass=0 fail=0
check() { local what="$1"; shift; if "$@" >/dev/null 2>&1; then echo "ok   $what"; pass=$((pass + 1)); else echo "FAIL $what"; fail=$((fail + 1)); fi; }
bind() { ldapsearch -x -LLL -o nettimeout=5 "$@" -s base -b '' 1.1 </dev/null; }
no_bind() { ! bind "$@"; }
sorted() { tr ' ' '\n' | sed '/^$/d' | sort | xargs; }

for n in 1 2; do
  v() { local k="KWLAB_AD${n}_$1"; printf '%s' "${!k}"; }
  export LDAPTLS_CACERT; LDAPTLS_CACERT="$(v CA_CERT)"
  realm="$(v REALM)"; base="$(v BASE_DN)"; dn="$(v BIND_DN)"; pw="$(v BIND_PASSWORD)"
  check "AD$n Administrator bind over $(v LDAPS_URL)" bind -H "$(v LDAPS_URL)" -D "$dn" -w "$pw"
  check "AD$n Administrator bind with StartTLS (-ZZ) on $(v LDAP_URL)" bind -ZZ -H "$(v LDAP_URL)" -D "$dn" -w "$pw"
  check "AD$n Administrator simple bind on plain $(v LDAP_URL)" bind -H "$(v LDAP_URL)" -D "$dn" -w "$pw"
  if [ $n = 1 ]; then with_pw="alice bob"; without_pw="carol dave erin"; want="alice bob carol dave erin frank frank2"
  else with_pw="alice grace"; without_pw="heidi"; want="alice grace heidi"; fi
  for u in $with_pw; do
    check "AD$n $u binds with \$KWLAB_USER_PASSWORD" bind -H "$(v LDAPS_URL)" -D "$u@${realm,,}" -w "$KWLAB_USER_PASSWORD"
  done
  for u in $without_pw; do
    check "AD$n $u (no password) cannot bind" no_bind -H "$(v LDAPS_URL)" -D "$u@${realm,,}" -w "$KWLAB_USER_PASSWORD"
  done
  filter="(&(objectCategory=person)(objectClass=user)(memberOf:1.2.840.113556.1.4.1941:=$(v SYNC_GROUP_DN)))"
  got="$(ldapsearch -x -LLL -o ldif-wrap=no -E pr=1000/noprompt -H "$(v LDAPS_URL)" -D "$dn" -w "$pw" \
         -b "$base" "$filter" sAMAccountName </dev/null 2>/dev/null | sed -n 's/^sAMAccountName: //p' | sorted)"
  check "AD$n sync filter returns: $(sorted <<<"$want") (got: $got)" test "$got" = "$(sorted <<<"$want")"
  man="$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["expected_sync_users"]))' "$(v MANIFEST)" 2>/dev/null)"
  check "AD$n fixtures.json expected_sync_users agrees" test "$man" = "$(sorted <<<"$want")"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
