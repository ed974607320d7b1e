#!/usr/bin/env bash
# kerberos.sh LAB_DIR DATADIR... — what keyward's Kerberos (GSSAPI) bind needs in the lab domains.
#
# For each domain DATADIR (running, with its service accounts from service-accounts.sh):
#   - the LDAP service principals a Windows DC registers itself (Samba's provision leaves them to
#     samba_spnupdate, which the lab does not run): ldap/<dc fqdn>, ldap/<dc fqdn>/<dns domain>,
#     ldap/<DC NETBIOS> on the DC's account;
#   - DATADIR/svc-keyward.keytab and DATADIR/svc-keyward-noreset.keytab (mode 0600): the keys of
#     the two service accounts, exported with samba-tool from the domain's own sam.ldb;
#   - DATADIR/kerberos.env: KEYTAB and NORESET_KEYTAB.
# Then, for all of them:
#   - LAB_DIR/svc-keyward.keytab: every domain's svc-keyward in one keytab (one process uses one
#     client keytab for all its Kerberos directories);
#   - LAB_DIR/krb5.conf: the lab realms with their KDCs by IP address, no DNS lookups, no
#     reverse lookups (rdns = false), so that the host's resolver and /etc/krb5.conf play no part.
# Idempotent: an SPN or keytab already there is kept (a keytab is exported again only when its
# account's key version changed). Needs root.
set -euo pipefail
LAB_PROG=kerberos
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ $# -ge 2 ] || die "usage: $0 LAB_DIR DATADIR..."
LAB_DIR="${1%/}"
shift

kvno_of() {  # kvno_of SAM: the account's msDS-KeyVersionNumber
  samba-tool user show "$1" "${LOCAL[@]}" --attributes=msDS-KeyVersionNumber 2>/dev/null |
    sed -n 's/^msDS-KeyVersionNumber: //p'
}

export_keytab() {  # export_keytab SAM FILE: FILE holds SAM's current keys
  local sam="$1" file="$2" kvno stamp="$2.kvno"
  kvno="$(kvno_of "$sam")"
  [ -n "$kvno" ] || die "cannot read the key version of $sam in $AD_REALM"
  if [ -s "$file" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$kvno" ]; then
    return 0
  fi
  rm -f "$file"
  (umask 077 && samba-tool domain exportkeytab "$file" --principal="$sam@$AD_REALM" \
    -s "$DATADIR/etc/smb.conf" >/dev/null)
  chmod 600 "$file"
  echo "$kvno" >"$stamp"
  log "exported the keys of $sam@$AD_REALM (kvno $kvno) to $file"
}

realms=()
combined_parts=()
for DATADIR in "$@"; do
  DATADIR="${DATADIR%/}"
  [ -f "$DATADIR/$LAB_MARKER" ] || die "$DATADIR is not a lab domain (no $LAB_MARKER)"
  (
    # shellcheck disable=SC1091
    . "$DATADIR/ad.env"
    LOCAL=(-s "$DATADIR/etc/smb.conf" -H "$DATADIR/private/sam.ldb")
    host="${AD_DC_HOSTNAME%%.*}"
    account="${host^^}\$"
    have="$(samba-tool spn list "$account" "${LOCAL[@]}" 2>/dev/null | tr -d '\t ' | tr 'A-Z' 'a-z')"
    for spn in "ldap/$AD_DC_HOSTNAME" "ldap/$AD_DC_HOSTNAME/${AD_REALM,,}" "ldap/${host^^}"; do
      if ! grep -qxF "${spn,,}" <<<"$have"; then
        samba-tool spn add "$spn" "$account" "${LOCAL[@]}" >/dev/null
        log "added the SPN $spn to $account"
      fi
    done
    export_keytab svc-keyward "$DATADIR/svc-keyward.keytab"
    export_keytab svc-keyward-noreset "$DATADIR/svc-keyward-noreset.keytab"
    {
      printf 'KEYTAB=%s\n' "$(shq "$DATADIR/svc-keyward.keytab")"
      printf 'NORESET_KEYTAB=%s\n' "$(shq "$DATADIR/svc-keyward-noreset.keytab")"
    } >"$DATADIR/kerberos.env"
  )
  # shellcheck disable=SC1091
  realms+=("$(. "$DATADIR/ad.env"; echo "$AD_REALM $AD_IP")")
  combined_parts+=("$DATADIR/svc-keyward.keytab")
done

# The combined keytab: rebuilt when any part is newer (exportkeytab adds to an existing file).
combined="$LAB_DIR/svc-keyward.keytab"
rebuild=0
[ -s "$combined" ] || rebuild=1
for part in "${combined_parts[@]}"; do
  [ "$part" -nt "$combined" ] && rebuild=1
done
if [ "$rebuild" -eq 1 ]; then
  rm -f "$combined.tmp"
  for DATADIR in "$@"; do
    # shellcheck disable=SC1091
    realm="$(. "${DATADIR%/}/ad.env"; echo "$AD_REALM")"
    (umask 077 && samba-tool domain exportkeytab "$combined.tmp" \
      --principal="svc-keyward@$realm" -s "${DATADIR%/}/etc/smb.conf" >/dev/null)
  done
  chmod 600 "$combined.tmp"
  mv -f "$combined.tmp" "$combined"
  log "wrote $combined (svc-keyward of every lab realm)"
fi

conf="$LAB_DIR/krb5.conf"
{
  echo "# The keyward lab's realms, written by lab/kerberos.sh: KDCs by address, no DNS."
  echo "[libdefaults]"
  echo "    default_realm = ${realms[0]%% *}"
  echo "    dns_lookup_kdc = false"
  echo "    dns_lookup_realm = false"
  echo "    dns_canonicalize_hostname = false"
  echo "    rdns = false"
  echo "    ticket_lifetime = 10h"
  echo "[realms]"
  for r in "${realms[@]}"; do
    echo "    ${r%% *} = {"
    echo "        kdc = ${r#* }"
    echo "    }"
  done
  echo "[domain_realm]"
  for r in "${realms[@]}"; do
    realm="${r%% *}"
    echo "    .${realm,,} = $realm"
    echo "    ${realm,,} = $realm"
  done
} >"$conf.tmp"
mv -f "$conf.tmp" "$conf"
