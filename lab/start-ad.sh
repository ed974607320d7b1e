#!/usr/bin/env bash
# start-ad.sh NAME REALM IP DATADIR
#
# Brings up a Samba Active Directory domain controller for keyward's integration tests, bound to
# one loopback address only, with all its state in DATADIR (its own smb.conf in DATADIR/etc;
# /etc/samba and the system services are never touched).
#
#   NAME     NetBIOS domain name, e.g. CORP1 (1-15 letters, digits, '-')
#   REALM    e.g. CORP1.TEST (base DN DC=corp1,DC=test)
#   IP       127.x.y.z, one per domain (Samba cannot move its LDAP ports, so each domain
#            needs its own address; the whole of 127/8 is local on Linux)
#   DATADIR  state directory; created and provisioned when it holds no domain yet
#
# Steps: install missing Debian packages; provision (first run only); make a CA and a server
# certificate with SANs IP:<IP>, DNS:<dc fqdn>, DNS:<realm>, DNS:localhost; start `samba -D`;
# wait until an LDAPS simple bind as Administrator works; write DATADIR/ad.env (KEY='value'
# lines) and print it. When the domain is already running only the env is rewritten.
#
# Environment (optional):
#   AD_ADMIN_PASSWORD   Administrator password (default Passw0rd!Lab)
#   AD_START_TIMEOUT    seconds to wait for the LDAPS bind (default 90)
#   AD_PWD_HISTORY      password history length (default 0)
#   AD_OLD_PASSWORD_PERIOD  minutes an old password still binds after a change (default 0)
#   AD_SERVER_SERVICES  samba's `server services` (default "ldap, cldap, kdc"; up.sh adds `rpc`
#                       for CORP1, the DRS endpoint its second DC joins and replicates through)
#
# The smb.conf is written again on every run; when it differs from the one a running samba
# started with (a changed setting, or a lab made by an older start-ad.sh), samba is restarted.
set -euo pipefail
LAB_PROG="start-ad[${1:-?}]"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

if [ $# -ne 4 ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
NAME="${1^^}"
REALM="${2^^}"
IP="$3"
DATADIR="$4"
[[ "$NAME" =~ ^[A-Z][A-Z0-9-]{0,14}$ ]] || die "NAME must be 1-15 letters/digits/'-', got '$1'"
[[ "$REALM" =~ ^[A-Z0-9-]+(\.[A-Z0-9-]+)+$ ]] || die "REALM must look like CORP1.TEST, got '$2'"
[[ "$IP" =~ ^127\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || die "IP must be a 127.x.y.z loopback address, got '$IP'"
[ "$(id -u)" -eq 0 ] || die "must run as root (samba AD refuses otherwise)"
case "$DATADIR" in /*) ;; *) DATADIR="$PWD/$DATADIR" ;; esac
DATADIR="${DATADIR%/}"

ADMIN_PW="${AD_ADMIN_PASSWORD:-Passw0rd!Lab}"
TIMEOUT="${AD_START_TIMEOUT:-90}"
SERVICES="${AD_SERVER_SERVICES:-ldap, cldap, kdc}"
[[ "$SERVICES" =~ ^[a-z_0-9]+(,\ ?[a-z_0-9]+)*$ ]] || die "AD_SERVER_SERVICES must be a comma-separated list of samba services, got '$SERVICES'"
realm_lc="${REALM,,}"
BASE_DN="DC=${realm_lc//./,DC=}"
DC_HOST="dc-${NAME,,}"                      # NetBIOS name of the DC (must differ from NAME)
DC_HOST="${DC_HOST:0:15}"
DC_FQDN="$DC_HOST.$realm_lc"
CONF="$DATADIR/etc/smb.conf"
PIDFILE="$DATADIR/run/samba.pid"
TLS="$DATADIR/tls"
LOG="$DATADIR/log/samba.log"
t_all="$(now_ns)"

ensure_packages

ldaps_bind() {   # prints ldapsearch's error text on failure
  LDAPTLS_CACERT="$TLS/ca.pem" LDAPTLS_REQCERT=demand ldapsearch -x -LLL -o nettimeout=3 \
    -H "ldaps://$IP" -D "CN=Administrator,CN=Users,$BASE_DN" -w "$ADMIN_PW" \
    -s base -b "$BASE_DN" '(objectClass=*)' 1.1 </dev/null 2>&1 >/dev/null
}

running_pid() {
  local pid
  [ -s "$PIDFILE" ] || return 1
  pid="$(tr -dc '0-9' <"$PIDFILE")"
  is_our_samba "$pid" "$DATADIR" && printf '%s' "$pid"
}

make_tls() {
  [ -s "$TLS/ca.pem" ] && [ -s "$TLS/cert.pem" ] && [ -s "$TLS/key.pem" ] && return 0
  mkdir -p "$TLS"
  (
    set -e
    cd "$TLS"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.pem \
      -subj "/O=keyward lab/CN=keyward lab CA $NAME" \
      -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign'
    openssl req -newkey rsa:2048 -nodes -keyout key.pem -out server.csr -subj "/O=keyward lab/CN=$DC_FQDN"
    cat >server.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$IP,DNS:$DC_FQDN,DNS:$realm_lc,DNS:localhost
EXT
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out cert.pem
    chmod 644 ca.pem cert.pem
  ) >"$DATADIR/log/tls.log" 2>&1 || { cat "$DATADIR/log/tls.log" >&2; die "certificate generation failed"; }
}

write_conf() {   # write_conf [FILE]: the smb.conf for this domain, into FILE (default $CONF)
  cat >"${1:-$CONF}" <<CONF
# Written by keyward lab/start-ad.sh. Self-contained: nothing here refers to /etc/samba.
[global]
	netbios name = ${DC_HOST^^}
	workgroup = $NAME
	realm = $REALM
	server role = active directory domain controller
	server services = $SERVICES
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
	# simple binds on plain ldap:// like a default Windows DC (samba's default would refuse them)
	ldap server require strong auth = no
	# an old password stops working at once after a change (samba default: 60 minutes)
	old password allowed period = ${AD_OLD_PASSWORD_PERIOD:-0}
	# throw-away test data: no fsync per write
	ldb:nosync = true

[sysvol]
	path = $DATADIR/state/sysvol
	read only = no

[netlogon]
	path = $DATADIR/state/sysvol/$realm_lc/scripts
	read only = no
CONF
}

# `samba -D` keeps every descriptor it inherits for its whole life: a caller's lock file (up.sh's
# flock) or a test harness' pipe would stay held/open. Close everything but 0-2 before exec.
launch_samba() {
  local fd
  for fd in "/proc/$BASHPID/fd/"*; do
    fd="${fd##*/}"
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
  exec samba -s "$CONF" -D
}

# ------------------------------------------------------------------ provision (first run) ---
# another server on this address (another domain, a leftover samba, slapd ...)? Checked before
# provisioning too, so a clash costs no provisioning time.
port_free() { ! (exec 3<>"/dev/tcp/$IP/389") 2>/dev/null; }
if ! running_pid >/dev/null && ! port_free; then
  die "something already listens on $IP:389 (another lab domain or a leftover server); stop it or use another IP"
fi

t0="$(now_ns)"
provisioned_now=no
if [ ! -f "$DATADIR/.provisioned" ]; then
  if [ -d "$DATADIR" ] && [ -n "$(ls -A "$DATADIR")" ]; then
    [ -f "$DATADIR/$LAB_MARKER" ] || die "$DATADIR exists, is not empty and was not made by this script; refusing to use it"
    running_pid >/dev/null && die "samba is running on the half-provisioned $DATADIR; run stop-ad.sh $DATADIR first"
    log "removing the half-provisioned $DATADIR"
    rm -rf "$DATADIR"
  fi
  mkdir -p "$DATADIR"
  chmod 755 "$DATADIR"   # the CA cert in tls/ must be readable by non-root test runs
  printf 'keyward lab AD data directory (start-ad.sh %s %s %s)\n' "$NAME" "$REALM" "$IP" >"$DATADIR/$LAB_MARKER"
  mkdir -p "$DATADIR"/{etc,private,lock,state/sysvol,cache,bind-dns,run,log}
  make_tls
  write_conf
  log "provisioning $REALM ($NAME) in $DATADIR"
  if ! samba-tool domain provision -s "$CONF" --realm="$REALM" --domain="$NAME" \
        --server-role=dc --dns-backend=NONE --backend-store=mdb \
        --host-name="$DC_HOST" --host-ip="$IP" --adminpass="$ADMIN_PW" \
        >"$DATADIR/log/provision.log" 2>&1; then
    tail -n 25 "$DATADIR/log/provision.log" >&2
    die "samba-tool domain provision failed (full output: $DATADIR/log/provision.log)"
  fi
  # provision rewrites nothing we rely on, but make sure our smb.conf is the one in force
  write_conf
  # AD-like policy (complexity on, min length 7) but no password ages, so tests can change
  # passwords repeatedly and nothing expires.
  if ! samba-tool domain passwordsettings set -s "$CONF" --complexity=on --min-pwd-length=7 \
        --history-length="${AD_PWD_HISTORY:-0}" --min-pwd-age=0 --max-pwd-age=0 \
        >>"$DATADIR/log/provision.log" 2>&1; then
    tail -n 10 "$DATADIR/log/provision.log" >&2
    die "samba-tool domain passwordsettings failed (see $DATADIR/log/provision.log)"
  fi
  printf '%s %s %s\n' "$NAME" "$REALM" "$IP" >"$DATADIR/.provisioned"
  provisioned_now=yes
else
  read -r p_name p_realm p_ip <"$DATADIR/.provisioned" || true
  [ "$p_name $p_realm $p_ip" = "$NAME $REALM $IP" ] ||
    die "$DATADIR holds domain '$p_name $p_realm $p_ip', not '$NAME $REALM $IP'"
  # The configuration this run wants (e.g. another AD_SERVER_SERVICES, or a lab made by an older
  # start-ad.sh): samba reads smb.conf only at start, so a running one is restarted to take it.
  write_conf "$CONF.new"
  if cmp -s "$CONF.new" "$CONF"; then
    rm -f "$CONF.new"
  else
    mv -f "$CONF.new" "$CONF"
    if running_pid >/dev/null; then
      log "smb.conf changed; restarting samba to apply it"
      "$HERE/stop-ad.sh" "$DATADIR" >&2 || die "could not stop samba to apply the new smb.conf"
    fi
  fi
fi
t_prov="$(since "$t0")"

# ---------------------------------------------------------------------------------- start ---
t0="$(now_ns)"
if PID="$(running_pid)"; then
  started=no
else
  started=yes
  port_free || die "something already listens on $IP:389 (another lab domain or a leftover server); stop it or use another IP"
  rm -f "$PIDFILE"
  mkdir -p "$DATADIR/run" "$DATADIR/log"
  ( launch_samba ) </dev/null >>"$DATADIR/log/samba.stdout" 2>&1 ||
    { tail -n 25 "$LOG" >&2 2>/dev/null; die "samba -D failed (see $LOG)"; }
  for _ in $(seq 1 100); do PID="$(running_pid)" && break; sleep 0.05; done
  [ -n "${PID:-}" ] || { tail -n 25 "$LOG" >&2 2>/dev/null; die "samba did not write $PIDFILE (see $LOG)"; }
fi

deadline=$(( $(date +%s) + TIMEOUT ))
while ! err="$(ldaps_bind)"; do
  if ! is_our_samba "$PID" "$DATADIR"; then
    tail -n 30 "$LOG" >&2 2>/dev/null || true
    die "samba (pid $PID) exited before LDAPS was ready; see $LOG"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    die "no LDAPS simple bind as Administrator on ldaps://$IP within ${TIMEOUT}s; last error: ${err//$'\n'/ | } (samba pid $PID, log $LOG)"
  fi
  sleep 0.1
done
t_start="$(since "$t0")"
log "ready on $IP: provisioned now: $provisioned_now (${t_prov}s), started now: $started (${t_start}s), total $(since "$t_all")s"

# ---------------------------------------------------------------------------------- ad.env ---
{
  printf 'AD_NAME=%s\n' "$(shq "$NAME")"
  printf 'AD_NETBIOS=%s\n' "$(shq "$NAME")"
  printf 'AD_REALM=%s\n' "$(shq "$REALM")"
  printf 'AD_IP=%s\n' "$(shq "$IP")"
  printf 'AD_BASE_DN=%s\n' "$(shq "$BASE_DN")"
  printf 'AD_BIND_DN=%s\n' "$(shq "CN=Administrator,CN=Users,$BASE_DN")"
  printf 'AD_BIND_UPN=%s\n' "$(shq "Administrator@$REALM")"
  printf 'AD_BIND_PASSWORD=%s\n' "$(shq "$ADMIN_PW")"
  printf 'AD_LDAP_URL=%s\n' "$(shq "ldap://$IP")"
  printf 'AD_LDAPS_URL=%s\n' "$(shq "ldaps://$IP")"
  printf 'AD_CA_CERT=%s\n' "$(shq "$TLS/ca.pem")"
  printf 'AD_DC_HOSTNAME=%s\n' "$(shq "$DC_FQDN")"
  printf 'AD_DATADIR=%s\n' "$(shq "$DATADIR")"
  printf 'AD_PID=%s\n' "$(shq "$PID")"
} >"$DATADIR/ad.env.tmp"
mv -f "$DATADIR/ad.env.tmp" "$DATADIR/ad.env"
cat "$DATADIR/ad.env"
