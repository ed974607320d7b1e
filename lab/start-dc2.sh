#!/usr/bin/env bash
# start-dc2.sh DC1_DATADIR IP DATADIR
#
# Joins a second domain controller to the running lab domain whose first DC start-ad.sh made in
# DC1_DATADIR, bound to loopback address IP, with all its state in DATADIR (its own smb.conf in
# DATADIR/etc). The first DC must run the `rpc` service (up.sh starts CORP1 with it): the join
# replicates the domain over DRS from it.
#
# Steps: on first use `samba-tool domain join REALM DC --server=<DC1 IP>` (NTLM as the domain
# Administrator, no DNS, LMDB), a server certificate signed by the first DC's lab CA (SANs
# IP:<IP>, DNS:<dc2 fqdn>, DNS:<realm>, DNS:localhost); start `samba -D`; wait for an LDAPS simple
# bind as Administrator; write DATADIR/ad.env (the keys of start-ad.sh's) and print it. Already
# running: only rewrites/prints ad.env.
#
# Replication: neither DC runs `drepl` or `kcc`, so nothing replicates on its own; a change made
# on the first DC reaches this one only when lab/replicate-dc2.sh pulls it (samba-tool drs
# replicate --local). Tests rely on that control. This one is never replicated back.
#
# Environment (optional): AD_START_TIMEOUT (seconds, default 90), AD_OLD_PASSWORD_PERIOD
# (default 0, as start-ad.sh).
set -euo pipefail
LAB_PROG="start-dc2"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

if [ $# -ne 3 ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
DC1_DIR="${1%/}"
IP="$2"
DATADIR="${3%/}"
case "$DC1_DIR" in /*) ;; *) DC1_DIR="$PWD/$DC1_DIR" ;; esac
case "$DATADIR" in /*) ;; *) DATADIR="$PWD/$DATADIR" ;; esac
[[ "$IP" =~ ^127\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || die "IP must be a 127.x.y.z loopback address, got '$IP'"
[ "$(id -u)" -eq 0 ] || die "must run as root (samba AD refuses otherwise)"
[ -s "$DC1_DIR/ad.env" ] || die "$DC1_DIR/ad.env missing: start the first DC with start-ad.sh first"
# shellcheck disable=SC1091
. "$DC1_DIR/ad.env"
grep -Eq '^[[:space:]]*server services = .*\brpc\b' "$DC1_DIR/etc/smb.conf" ||
  die "the first DC ($DC1_DIR) does not run the rpc service; start it with AD_SERVER_SERVICES='ldap, cldap, kdc, rpc'"
[ "$IP" != "$AD_IP" ] || die "IP $IP is the first DC's"

NAME="$AD_NAME"
REALM="$AD_REALM"
DC1_IP="$AD_IP"
BASE_DN="$AD_BASE_DN"
# The domain administrator (ad.env's bind account may be a least-privilege one).
ADMIN_DN="CN=Administrator,CN=Users,$BASE_DN"
ADMIN_PW="${AD_ADMIN_PASSWORD:-$AD_BIND_PASSWORD}"
TIMEOUT="${AD_START_TIMEOUT:-90}"
realm_lc="${REALM,,}"
DC_HOST="dc2-${NAME,,}"
DC_HOST="${DC_HOST:0:15}"
DC_FQDN="$DC_HOST.$realm_lc"
CONF="$DATADIR/etc/smb.conf"
PIDFILE="$DATADIR/run/samba.pid"
TLS="$DATADIR/tls"
LOG="$DATADIR/log/samba.log"
t_all="$(now_ns)"

ldaps_bind() {   # prints ldapsearch's error text on failure
  LDAPTLS_CACERT="$TLS/ca.pem" LDAPTLS_REQCERT=demand ldapsearch -x -LLL -o nettimeout=3 \
    -H "ldaps://$IP" -D "$ADMIN_DN" -w "$ADMIN_PW" \
    -s base -b "$BASE_DN" '(objectClass=*)' 1.1 </dev/null 2>&1 >/dev/null
}

running_pid() {
  local pid
  [ -s "$PIDFILE" ] || return 1
  pid="$(tr -dc '0-9' <"$PIDFILE")"
  is_our_samba "$pid" "$DATADIR" && printf '%s' "$pid"
}

# A server certificate for this DC from the first DC's lab CA, so one ca_file verifies both.
make_tls() {
  [ -s "$TLS/ca.pem" ] && [ -s "$TLS/cert.pem" ] && [ -s "$TLS/key.pem" ] && return 0
  mkdir -p "$TLS"
  (
    set -e
    cd "$TLS"
    umask 077
    cp "$DC1_DIR/tls/ca.pem" ca.pem
    openssl req -newkey rsa:2048 -nodes -keyout key.pem -out server.csr -subj "/O=keyward lab/CN=$DC_FQDN"
    cat >server.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$IP,DNS:$DC_FQDN,DNS:$realm_lc,DNS:localhost
EXT
    openssl x509 -req -in server.csr -CA "$DC1_DIR/tls/ca.pem" -CAkey "$DC1_DIR/tls/ca.key" \
      -CAserial "$TLS/ca.srl" -CAcreateserial -days 3650 -extfile server.ext -out cert.pem
    chmod 644 ca.pem cert.pem
  ) >"$DATADIR/log/tls.log" 2>&1 || { cat "$DATADIR/log/tls.log" >&2; die "certificate generation failed"; }
}

write_conf() {   # write_conf [FILE]
  cat >"${1:-$CONF}" <<CONF
# Written by keyward lab/start-dc2.sh: the second DC of $REALM. Nothing here refers to /etc/samba.
[global]
	netbios name = ${DC_HOST^^}
	workgroup = $NAME
	realm = $REALM
	server role = active directory domain controller
	# no drepl and no kcc: nothing replicates unless lab/replicate-dc2.sh pulls it
	server services = ldap, cldap, kdc
	interfaces = $IP/8
	bind interfaces only = yes
	dns proxy = no
	private dir = $DATADIR/private
	lock directory = $DATADIR/lock
	state directory = $DATADIR/state
	cache directory = $DATADIR/cache
	binddns dir = $DATADIR/bind-dns
	pid directory = $DATADIR/run
	ncalrpc dir = $DATADIR/run/ncalrpc
	winbindd socket directory = $DATADIR/run/winbindd
	ntp signd socket directory = $DATADIR/run/ntp_signd
	logging = file
	log file = $LOG
	log level = 1
	max log size = 20000
	tls enabled = yes
	tls keyfile = $TLS/key.pem
	tls certfile = $TLS/cert.pem
	tls cafile = $TLS/ca.pem
	ldap server require strong auth = no
	old password allowed period = ${AD_OLD_PASSWORD_PERIOD:-0}
	ldb:nosync = true

[sysvol]
	path = $DATADIR/state/sysvol
	read only = no

[netlogon]
	path = $DATADIR/state/sysvol/$realm_lc/scripts
	read only = no
CONF
}

launch_samba() {   # as start-ad.sh: samba -D keeps every inherited descriptor, so close them
  local fd
  for fd in "/proc/$BASHPID/fd/"*; do
    fd="${fd##*/}"
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
  exec samba -s "$CONF" -D
}

port_free() { ! (exec 3<>"/dev/tcp/$IP/389") 2>/dev/null; }
if ! running_pid >/dev/null && ! port_free; then
  die "something already listens on $IP:389 (another lab domain or a leftover server); stop it or use another IP"
fi

# ------------------------------------------------------------------------ join (first run) ---
t0="$(now_ns)"
joined_now=no
if [ ! -f "$DATADIR/.joined" ]; then
  if [ -d "$DATADIR" ] && [ -n "$(ls -A "$DATADIR")" ]; then
    [ -f "$DATADIR/$LAB_MARKER" ] || die "$DATADIR exists, is not empty and was not made by this script; refusing to use it"
    running_pid >/dev/null && die "samba is running on the half-joined $DATADIR; run stop-ad.sh $DATADIR first"
    log "removing the half-joined $DATADIR"
    rm -rf "$DATADIR"
  fi
  mkdir -p "$DATADIR"
  chmod 755 "$DATADIR"
  printf 'keyward lab AD data directory (start-dc2.sh %s %s %s)\n' "$DC1_DIR" "$IP" "$DATADIR" >"$DATADIR/$LAB_MARKER"
  mkdir -p "$DATADIR"/{etc,private,lock,state/sysvol,cache,bind-dns,run,log}
  make_tls
  write_conf
  # A join leaves this DC's computer and NTDS Settings objects on the first DC; a second join
  # under the same name (after down.sh --purge of this DC alone) must remove them first.
  samba-tool domain demote -s "$DC1_DIR/etc/smb.conf" -H "$DC1_DIR/private/sam.ldb" \
    --remove-other-dead-server="${DC_HOST^^}" >"$DATADIR/log/demote-old.log" 2>&1 || true
  log "joining $DC_FQDN to $REALM through $DC1_IP"
  if ! (cd "$DATADIR" && samba-tool domain join "$REALM" DC -s "$CONF" --server="$DC1_IP" \
        -U"Administrator%$ADMIN_PW" --use-kerberos=off --dns-backend=NONE --backend-store=mdb) \
        >"$DATADIR/log/join.log" 2>&1; then
    tail -n 25 "$DATADIR/log/join.log" >&2
    die "samba-tool domain join failed (full output: $DATADIR/log/join.log)"
  fi
  write_conf
  printf '%s %s %s\n' "$REALM" "$DC1_IP" "$IP" >"$DATADIR/.joined"
  joined_now=yes
else
  read -r p_realm p_dc1 p_ip <"$DATADIR/.joined" || true
  [ "$p_realm $p_dc1 $p_ip" = "$REALM $DC1_IP $IP" ] ||
    die "$DATADIR holds a DC of '$p_realm' joined through $p_dc1 on $p_ip, not '$REALM $DC1_IP $IP'"
fi
t_join="$(since "$t0")"

# ---------------------------------------------------------------------------------- start ---
t0="$(now_ns)"
if PID="$(running_pid)"; then
  started=no
else
  started=yes
  port_free || die "something already listens on $IP:389; stop it or use another IP"
  rm -f "$PIDFILE"
  ( launch_samba ) </dev/null >>"$DATADIR/log/samba.stdout" 2>&1 ||
    { tail -n 25 "$LOG" >&2 2>/dev/null; die "samba -D failed (see $LOG)"; }
  for _ in $(seq 1 100); do PID="$(running_pid)" && break; sleep 0.05; done
  [ -n "${PID:-}" ] || { tail -n 25 "$LOG" >&2 2>/dev/null; die "samba did not write $PIDFILE (see $LOG)"; }
fi
deadline=$(( $(date +%s) + TIMEOUT ))
while ! err="$(ldaps_bind)"; do
  is_our_samba "$PID" "$DATADIR" || { tail -n 30 "$LOG" >&2 2>/dev/null || true; die "samba (pid $PID) exited before LDAPS was ready; see $LOG"; }
  [ "$(date +%s)" -lt "$deadline" ] ||
    die "no LDAPS simple bind as Administrator on ldaps://$IP within ${TIMEOUT}s; last error: ${err//$'\n'/ | } (samba pid $PID, log $LOG)"
  sleep 0.1
done
t_start="$(since "$t0")"
log "ready on $IP: joined now: $joined_now (${t_join}s), started now: $started (${t_start}s), total $(since "$t_all")s"

{
  printf 'AD_NAME=%s\n' "$(shq "$NAME")"
  printf 'AD_REALM=%s\n' "$(shq "$REALM")"
  printf 'AD_IP=%s\n' "$(shq "$IP")"
  printf 'AD_BASE_DN=%s\n' "$(shq "$BASE_DN")"
  printf 'AD_BIND_DN=%s\n' "$(shq "$ADMIN_DN")"
  printf 'AD_BIND_PASSWORD=%s\n' "$(shq "$ADMIN_PW")"
  printf 'AD_LDAP_URL=%s\n' "$(shq "ldap://$IP")"
  printf 'AD_LDAPS_URL=%s\n' "$(shq "ldaps://$IP")"
  printf 'AD_CA_CERT=%s\n' "$(shq "$TLS/ca.pem")"
  printf 'AD_DC_HOSTNAME=%s\n' "$(shq "$DC_FQDN")"
  printf 'AD_DATADIR=%s\n' "$(shq "$DATADIR")"
  printf 'AD_PID=%s\n' "$(shq "$PID")"
  printf 'AD_DC1_DATADIR=%s\n' "$(shq "$DC1_DIR")"
} >"$DATADIR/ad.env.tmp"
mv -f "$DATADIR/ad.env.tmp" "$DATADIR/ad.env"
cat "$DATADIR/ad.env"
