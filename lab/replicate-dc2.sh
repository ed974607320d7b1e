#!/usr/bin/env bash
# replicate-dc2.sh DATADIR [DN]
#
# Pulls what changed on the first DC into the second DC that start-dc2.sh made in DATADIR
# (`samba-tool drs replicate --local`: straight into DATADIR's database, over DRS from the first
# DC's IP, so no name resolution and no drepl service is needed). One direction only: the first
# DC never receives the second's changes. With DN, only that object (--single-object).
# Incremental; about 0.3 s. Needs root.
set -euo pipefail
LAB_PROG="replicate-dc2"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ $# -ge 1 ] && [ $# -le 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
DATADIR="${1%/}"
[ -s "$DATADIR/ad.env" ] || die "$DATADIR/ad.env missing: start the second DC with start-dc2.sh first"
# shellcheck disable=SC1091
. "$DATADIR/ad.env"
# shellcheck disable=SC1091
DC1_IP="$(. "$AD_DC1_DATADIR/ad.env" && printf '%s' "$AD_IP")"
args=("$AD_BASE_DN")
[ $# -eq 2 ] && args=("$2" --single-object)
samba-tool drs replicate "$AD_DC_HOSTNAME" "$DC1_IP" "${args[@]}" --local \
  -s "$DATADIR/etc/smb.conf" -U"Administrator%${AD_ADMIN_PASSWORD:-$AD_BIND_PASSWORD}" --use-kerberos=off >&2 ||
  die "samba-tool drs replicate from $DC1_IP into $DATADIR failed"
