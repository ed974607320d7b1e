#!/usr/bin/env bash
# service-accounts.sh DATADIR — the accounts keyward binds as in a lab domain, with the
# delegation a real domain would give them (docs/operations.md, "The service account").
#
#   svc-keyward          least privilege: reads users and groups like any authenticated user,
#                        plus, on OU=KeywardLab and inherited by every user object under it:
#                        Reset Password (control access right 00299570-…) and Write pwdLastSet;
#                        and read access to the Password Settings Container (fine-grained
#                        password policies) and to CN=Deleted Objects (tombstones: how
#                        incremental syncs see deletions).
#   svc-keyward-noreset  the same reads but tombstones, without Reset Password or Write
#                        pwdLastSet: what `keyward directory test` must flag.
#
# Both live in CN=Users (outside the fixtures' OU), never expire and have the password
# $SVC_PASSWORD. Idempotent: existing accounts and ACEs are left as they are. Uses samba-tool
# on the domain's own sam.ldb (the DC keeps running). Writes DATADIR/service-accounts.env.
set -euo pipefail
LAB_PROG=service-accounts
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ $# -eq 1 ] || die "usage: $0 DATADIR"
DATADIR="${1%/}"
[ -f "$DATADIR/$LAB_MARKER" ] || die "$DATADIR is not a lab domain (no $LAB_MARKER)"
# shellcheck disable=SC1091
. "$DATADIR/ad.env"
SVC_PASSWORD='Svc#Keyward-Lab1'
LOCAL=(-s "$DATADIR/etc/smb.conf" -H "$DATADIR/private/sam.ldb")
OU="OU=KeywardLab,$AD_BASE_DN"
PSO_CONTAINER="CN=Password Settings Container,CN=System,$AD_BASE_DN"

# Schema and extended-right GUIDs (the same in every AD forest).
RESET_PASSWORD=00299570-246d-11d0-a768-00aa006e0529   # User-Force-Change-Password
PWD_LAST_SET=bf967a0a-0de6-11d0-a285-00aa003049e2     # attribute pwdLastSet
USER_CLASS=bf967aba-0de6-11d0-a285-00aa003049e2       # class user

sid_of() {  # sid_of SAM: the account's objectSid as S-1-5-…
  samba-tool user show "$1" "${LOCAL[@]}" --attributes=objectSid 2>/dev/null |
    sed -n 's/^objectSid: //p'
}

ensure_user() {  # ensure_user SAM DESCRIPTION
  if [ -z "$(sid_of "$1")" ]; then
    samba-tool user create "$1" "$SVC_PASSWORD" "${LOCAL[@]}" \
      --description="$2" --use-username-as-cn >/dev/null
    samba-tool user setexpiry "$1" --noexpiry "${LOCAL[@]}" >/dev/null
    log "created $1"
  fi
}

ensure_ace() {  # ensure_ace OBJECT_DN SDDL_ACE (dsacl set skips an ACE already there)
  samba-tool dsacl set "${LOCAL[@]}" --objectdn="$1" --sddl="$2" >/dev/null
}

ensure_user svc-keyward "keyward service account (least privilege, lab)"
ensure_user svc-keyward-noreset "keyward service account without Reset Password (lab)"
svc_sid="$(sid_of svc-keyward)"
noreset_sid="$(sid_of svc-keyward-noreset)"
[ -n "$svc_sid" ] && [ -n "$noreset_sid" ] || die "cannot read the service accounts' SIDs"

# CI: container inherit, IO: inherit only (not on the OU itself), object type user.
ensure_ace "$OU" "(OA;CIIO;CR;$RESET_PASSWORD;$USER_CLASS;$svc_sid)"
ensure_ace "$OU" "(OA;CIIO;WP;$PWD_LAST_SET;$USER_CLASS;$svc_sid)"
# Fine-grained policies are readable by Domain Admins only by default.
for sid in "$svc_sid" "$noreset_sid"; do
  ensure_ace "$PSO_CONTAINER" "(A;CI;RPLCLORC;;;$sid)"
done

# Incremental syncs find deletions through tombstones, which AD shows only to accounts with
# List Contents and Read Property on CN=Deleted Objects (the container's ACL is protected and
# admin-only; on Windows: dsacls "CN=Deleted Objects,DC=…" /takeownership, then
# /G DOMAIN\svc-keyward:LCRP). svc-keyward gets both; svc-keyward-noreset does not, so that
# `keyward directory test` has an account to warn about. And one deleted user under the OU, so
# that "sees deleted users" is a fact of the lab, not of its history.
/usr/bin/python3 - "$DATADIR/etc/smb.conf" "$DATADIR/private/sam.ldb" "$svc_sid" "$OU" <<'PY'
import sys
import ldb
from samba.auth import system_session
from samba.dcerpc import security
from samba.ndr import ndr_pack, ndr_unpack
from samba.param import LoadParm
from samba.samdb import SamDB

smbconf, sam, svc_sid, ou = sys.argv[1:5]
lp = LoadParm()
lp.load(smbconf)
db = SamDB(url=sam, session_info=system_session(), lp=lp)
deleted = "CN=Deleted Objects," + str(db.get_default_basedn())
controls = ["show_deleted:1", "sd_flags:1:4"]
domain = security.dom_sid(db.get_domain_sid())
raw = db.search(base=deleted, scope=ldb.SCOPE_BASE, attrs=["nTSecurityDescriptor"],
                controls=controls)[0]["nTSecurityDescriptor"][0]
sddl = ndr_unpack(security.descriptor, raw).as_sddl(domain)
ace = "(A;;LCRP;;;%s)" % svc_sid
if ace not in sddl:
    msg = ldb.Message(ldb.Dn(db, deleted))
    msg["nTSecurityDescriptor"] = ldb.MessageElement(
        ndr_pack(security.descriptor.from_sddl(sddl + ace, domain)),
        ldb.FLAG_MOD_REPLACE, "nTSecurityDescriptor")
    db.modify(msg, controls=controls)
probe = "kw-deleted-probe"
if not db.search(base=str(db.get_default_basedn()), scope=ldb.SCOPE_SUBTREE,
                 expression="(&(isDeleted=TRUE)(sAMAccountName=%s))" % probe,
                 attrs=["1.1"], controls=["show_deleted:1"]):
    dn = "CN=%s,%s" % (probe, ou)
    db.add({"dn": dn, "objectClass": "user", "sAMAccountName": probe})
    db.delete(dn)
PY

{
  printf 'SVC_DN=%s\n' "$(shq "CN=svc-keyward,CN=Users,$AD_BASE_DN")"
  printf 'SVC_UPN=%s\n' "$(shq "svc-keyward@$AD_REALM")"
  printf 'SVC_PASSWORD=%s\n' "$(shq "$SVC_PASSWORD")"
  printf 'SVC_SID=%s\n' "$(shq "$svc_sid")"
  printf 'NORESET_DN=%s\n' "$(shq "CN=svc-keyward-noreset,CN=Users,$AD_BASE_DN")"
  printf 'NORESET_PASSWORD=%s\n' "$(shq "$SVC_PASSWORD")"
} >"$DATADIR/service-accounts.env"
log "service accounts ready in $AD_REALM"
