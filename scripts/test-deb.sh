#!/usr/bin/env bash
# Builds the Debian package and checks it on this machine, as root: install with dpkg, the files
# and the keyward user, `systemd-analyze verify` and `security` on the installed unit, then the
# unit's ExecStart run as its User= in its WorkingDirectory= with its UMask= (PID 1 here need not
# be systemd), health, readiness, the SQLite file's owner and mode, the CLI as that user, SIGHUP
# and SIGTERM, an upgrade over itself, the completions and manual pages, the documented TLS and
# key-file permissions, a plain remove (the database stays), and a purge (user and state gone).
#
#   scripts/test-deb.sh [--profile PROFILE]   # default dev: the binaries the tests built (CI)
#
# Idempotent: a package left installed by an earlier failed run of this script is purged
# first. It refuses to touch a keyward installation that it did not make (no marker file in
# /var/lib/keyward) unless given --force. Exits non-zero with a line "test-deb: FAILED: ...".
set -euo pipefail
cd "$(dirname "$0")/.."

profile=dev
force=false
while [ $# -gt 0 ]; do
    case "$1" in
    --profile)
        [ $# -ge 2 ] || { echo "usage: $0 [--profile PROFILE] [--force]" >&2; exit 2; }
        profile=$2
        shift 2
        ;;
    --force)
        force=true
        shift
        ;;
    *)
        echo "usage: $0 [--profile PROFILE] [--force]" >&2
        exit 2
        ;;
    esac
done

started=$SECONDS
step() { echo "test-deb: $*"; }
fail() {
    echo "test-deb: FAILED: $*" >&2
    exit 1
}
[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg, a system user)"

unit_name=keyward-server.service
marker=/var/lib/keyward/.made-by-test-deb
# Files this script adds to /etc/keyward as an administrator would (TLS, key-encryption key).
admin_files=/etc/keyward/test-deb
work=$(mktemp -d)
server_pid=
tracer_pid=
cleanup() {
    for pid in $server_pid $tracer_pid; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# What the checks use, from Debian's packages when missing.
missing=()
for tool in curl:curl systemd-analyze:systemd openssl:openssl adduser:adduser python3:python3 strace:strace; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    step "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

# --- a clean start -------------------------------------------------------------------------
if dpkg-query -W -f='${Status}' keyward 2>/dev/null | grep -q 'installed\|config-files\|half'; then
    if [ ! -e "$marker" ] && [ "$force" != true ]; then
        fail "a keyward package that this script did not install is on this machine; run with --force to purge it (and its database)"
    fi
    step "purging the keyward package an earlier run left"
    dpkg --purge keyward >/dev/null
fi
rm -rf "$admin_files"
rmdir /etc/keyward 2>/dev/null || true

# --- build and install ---------------------------------------------------------------------
step "building the package (profile $profile)"
deb=$(scripts/build-deb.sh --profile "$profile" | tail -n 1)
[ -f "$deb" ] || fail "build-deb.sh printed no package"
step "package $deb ($(du -h "$deb" | cut -f1))"

step "installing with dpkg -i"
if ! dpkg -i "$deb" >"$work/dpkg.log" 2>&1; then
    # Missing dependencies: dpkg leaves the package unconfigured, apt installs them and
    # configures it.
    cat "$work/dpkg.log"
    DEBIAN_FRONTEND=noninteractive apt-get install -f -y -q >/dev/null ||
        fail "apt-get could not install the package's dependencies"
fi
touch "$marker"
[ "$(dpkg-query -W -f='${Status}' keyward)" = "install ok installed" ] ||
    fail "keyward is not installed: $(dpkg-query -W -f='${Status}' keyward)"
grep -q "systemctl enable --now $unit_name" "$work/dpkg.log" ||
    fail "the first installation does not say how to start the service"

# --- files, user, modes --------------------------------------------------------------------
step "checking the installed files"
for file in /usr/bin/keyward /usr/bin/keyward-server /usr/bin/keyward-agent-sim; do
    [ -x "$file" ] || fail "$file is missing or not executable"
done
for file in \
    /usr/lib/systemd/system/$unit_name \
    /etc/keyward/keyward.toml \
    /usr/share/bash-completion/completions/keyward \
    /usr/share/zsh/vendor-completions/_keyward \
    /usr/share/fish/vendor_completions.d/keyward.fish \
    /usr/share/man/man1/keyward.1.gz \
    /usr/share/man/man1/keyward-keys-assign.1.gz \
    /usr/share/man/man1/keyward-completions.1.gz \
    /usr/share/man/man1/keyward-server.1.gz \
    /usr/share/man/man1/keyward-agent-sim.1.gz \
    /usr/share/doc/keyward/README.md \
    /usr/share/doc/keyward/operations.md \
    /usr/share/doc/keyward/configuration.md \
    /usr/share/doc/keyward/copyright; do
    [ -f "$file" ] || fail "$file is missing"
done
[ ! -e /usr/share/man/man1/keyward-man-pages.1.gz ] || fail "the hidden man-pages command has a page"
dpkg-query -W -f='${Conffiles}\n' keyward | grep -q '^ /etc/keyward/keyward.toml ' ||
    fail "/etc/keyward/keyward.toml is not a conffile"
/usr/bin/keyward --version | grep -q '^keyward ' || fail "keyward --version"
/usr/bin/keyward-server --version | grep -q '^keyward-server ' || fail "keyward-server --version"

IFS=: read -r _ _ uid _ _ home shell < <(getent passwd keyward) || fail "no user keyward"
[ "$uid" -lt 1000 ] || fail "keyward is not a system user (uid $uid)"
[ "$home" = /var/lib/keyward ] || fail "keyward's home is $home"
[ "$shell" = /usr/sbin/nologin ] || fail "keyward's shell is $shell"
getent group keyward >/dev/null || fail "no group keyward"
expect_stat() {
    local actual
    actual=$(stat -c '%U:%G %a' "$1")
    [ "$actual" = "$2" ] || fail "$1 is $actual, expected $2"
}
expect_stat /var/lib/keyward "keyward:keyward 750"
expect_stat /etc/keyward "root:keyward 750"
expect_stat /etc/keyward/keyward.toml "root:keyward 640"
[ ! -e "/etc/systemd/system/multi-user.target.wants/$unit_name" ] ||
    fail "the installation enabled the service; the administrator does"

# --- the unit, as systemd reads it ---------------------------------------------------------
unit=/lib/systemd/system/$unit_name
[ -f "$unit" ] || unit=/usr/lib/systemd/system/$unit_name
step "systemd-analyze verify $unit"
# It checks the syntax, every directive, the executables and the Documentation= man page;
# anything it says about this unit is a failure.
if ! systemd-analyze verify "$unit" >"$work/verify.log" 2>&1 || grep -q "keyward" "$work/verify.log"; then
    cat "$work/verify.log" >&2
    fail "systemd-analyze verify complains about the unit"
fi
# The sandbox as a score (0 fully exposed ... 10 unsafe, inverted: lower is better); 2.0 is
# well inside systemd's "OK" band, so a lost directive shows.
if ! systemd-analyze security --offline=yes --threshold=20 "$unit" >"$work/security.log" 2>&1; then
    tail -n 3 "$work/security.log" >&2
    fail "systemd-analyze security: exposure above 2.0"
fi
step "$(grep -o 'Overall exposure level.*' "$work/security.log")"

directive() {
    local value
    value=$(sed -n "s/^$1=//p" "$unit" | tail -n 1)
    [ -n "$value" ] || fail "the unit has no $1="
    printf '%s\n' "$value"
}
exec_start=$(directive ExecStart)
user=$(directive User)
group=$(directive Group)
workdir=$(directive WorkingDirectory)
umask_value=$(directive UMask)
read -r -a command <<<"$exec_start"
[ "${command[0]}" = /usr/bin/keyward-server ] || fail "ExecStart runs ${command[0]}"

# --- the example configuration, with the sections it leaves commented out -----------------
step "checking the example configuration and the documented file permissions"
runuser -u "$user" -- /usr/bin/keyward --config /etc/keyward/keyward.toml config check >/dev/null ||
    fail "config check refuses the installed example configuration"
# As docs/operations.md and the example say: TLS files root:keyward 0640 in a 0750 directory,
# the key-encryption key made by `keyward secrets new-key-file` and given to keyward.
install -d -o root -g keyward -m 0750 "$admin_files"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -keyout "$work/server-key.pem" -out "$work/server.pem" 2>/dev/null
install -o root -g keyward -m 0640 "$work/server.pem" "$work/server-key.pem" "$admin_files/"
/usr/bin/keyward secrets new-key-file "$admin_files/kek.key" >/dev/null
chown keyward:keyward "$admin_files/kek.key"
expect_stat "$admin_files/kek.key" "keyward:keyward 600"
sed -e 's/^# \[tls\]/[tls]/' -e 's/^# cert_file/cert_file/' -e 's/^# key_file/key_file/' \
    -e 's/^# \[secrets\]/[secrets]/' \
    -e "s|/etc/keyward/tls/|$admin_files/|" -e "s|/etc/keyward/kek.key|$admin_files/kek.key|" \
    /etc/keyward/keyward.toml >"$admin_files/full.toml"
chgrp keyward "$admin_files/full.toml"
chmod 0640 "$admin_files/full.toml"
{ grep -q '^\[tls\]' "$admin_files/full.toml" && grep -q '^\[secrets\]' "$admin_files/full.toml"; } ||
    fail "could not uncomment [tls] and [secrets] in the example"
runuser -u "$user" -- /usr/bin/keyward --config "$admin_files/full.toml" config check >"$work/check.log" 2>&1 || {
    cat "$work/check.log" >&2
    fail "config check refuses the example with [tls] and [secrets] as documented"
}

# --- the server, started as the unit starts it ---------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
step "starting '$exec_start' as $user:$group in $workdir (umask $umask_value), KEYWARD_LISTEN=127.0.0.1:$port"
# Under strace, so that the system calls, socket families and memory mappings it used can be
# held against the unit's SystemCallFilter=, RestrictAddressFamilies= and
# MemoryDenyWriteExecute= afterwards (systemd would enforce them; here nothing does).
chmod 0711 "$work"
install -d -o "$user" -g "$group" -m 0700 "$work/trace"
(
    cd "$workdir"
    umask "$umask_value"
    # systemd's clean environment; the port comes in as the settings layer above the file.
    exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 KEYWARD_LISTEN="127.0.0.1:$port" \
        setpriv --reuid "$user" --regid "$group" --init-groups --no-new-privs \
        --inh-caps=-all --bounding-set=-all -- \
        strace -f -qq -o "$work/trace/syscalls" "${command[@]}"
) >"$work/server.log" 2>&1 &
tracer_pid=$!
server_pid=
for _ in $(seq 1 50); do
    server_pid=$(pgrep -P "$tracer_pid" -x keyward-server || true)
    [ -n "$server_pid" ] && break
    sleep 0.1
done
[ -n "$server_pid" ] || { cat "$work/server.log" >&2; fail "keyward-server did not start under strace"; }
server_failed() {
    cat "$work/server.log" >&2
    fail "$@"
}
for _ in $(seq 1 120); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || server_failed "keyward-server exited at start"
    sleep 0.5
done
curl -fsS "$base/healthz" >/dev/null || server_failed "/healthz does not answer"
curl -fsS "$base/readyz" >/dev/null || server_failed "/readyz does not answer 200"
[ "$(ps -o user= -p "$server_pid")" = "$user" ] || server_failed "the server does not run as $user"
db=/var/lib/keyward/keyward.db
[ -f "$db" ] || server_failed "no database at $db"
expect_stat "$db" "keyward:keyward 600"

step "the CLI as $user on the server's database"
runuser -u "$user" -- /usr/bin/keyward --config /etc/keyward/keyward.toml migrate --status >"$work/status.log" 2>&1 || {
    cat "$work/status.log" >&2
    fail "keyward migrate --status does not exit 0 on the server's new database"
}
state=$(cd "$workdir" && runuser -u "$user" -- /usr/bin/keyward --config /etc/keyward/keyward.toml \
    --output json migrate --status | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')
[ "$state" = current ] || fail "migrate --status says $state"
runuser -u "$user" -- /usr/bin/keyward --config /etc/keyward/keyward.toml employees list >/dev/null ||
    fail "keyward employees list as $user"

step "ExecReload (SIGHUP) keeps it serving; SIGTERM stops it cleanly"
kill -HUP "$server_pid"
sleep 0.5
curl -fsS "$base/healthz" >/dev/null || server_failed "the server stopped serving after SIGHUP"
kill -TERM "$server_pid"
code=0
# strace exits with its tracee's status.
wait "$tracer_pid" || code=$?
server_pid=
[ "$code" -eq 0 ] || server_failed "keyward-server exited $code after SIGTERM"
grep -q "keyward-server stopped" "$work/server.log" || server_failed "no clean stop in the log"
! grep -qE 'kw[wp]?_[A-Za-z0-9]' "$work/server.log" || server_failed "a credential in the log"

step "the sandbox would have allowed everything it did"
python3 - "$unit" "$work/trace/syscalls" <<'PY' || fail "the server did something the unit's sandbox forbids (above)"
import re, subprocess, sys

unit, trace = sys.argv[1], sys.argv[2]
groups = {}

def expand(name):
    """The system calls of a name or @group, as this systemd knows them."""
    if not name.startswith("@"):
        return {name}
    if name not in groups:
        out = subprocess.run(["systemd-analyze", "syscall-filter", name],
                             capture_output=True, text=True, check=True).stdout
        members = set()
        for line in out.splitlines()[1:]:
            line = line.strip()
            if line and not line.startswith("#"):
                members |= expand(line)
        groups[name] = members
    return groups[name]

allowed, denied, families = set(), set(), set()
for line in open(unit):
    key, _, value = line.strip().partition("=")
    if key == "SystemCallFilter":
        negate = value.startswith("~")
        names = set().union(*(expand(n) for n in value.lstrip("~").split()))
        (denied if negate else allowed).update(names)
    elif key == "RestrictAddressFamilies":
        families.update(value.split())
allowed -= denied

problems = []
used = set()
for line in open(trace):
    call = re.match(r"\d+\s+([a-z0-9_]+)\(", line)
    if not call:
        continue
    used.add(call.group(1))
    if call.group(1) == "socket":
        family = re.match(r"\d+\s+socket\((AF_[A-Z0-9]+)", line)
        if family and family.group(1) not in families:
            problems.append("socket family " + family.group(1))
    if re.search(r"PROT_WRITE\|PROT_EXEC|PROT_EXEC\|PROT_WRITE", line):
        problems.append("writable and executable memory: " + line.strip())
problems += ["system call " + name for name in sorted(used - allowed)]
# A server that answered HTTP made dozens; fewer means the trace is not the server's.
if len(used) < 30 or "accept4" not in used or not allowed:
    problems.append(f"the trace holds {len(used)} system calls (no accept4?): not the server's")
for problem in problems:
    print("test-deb: not allowed by the unit:", problem, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"test-deb: {len(used)} system calls, all within SystemCallFilter=; "
      f"socket families within {' '.join(sorted(families))}; no W+X mapping")
PY

# --- completions and manual pages ----------------------------------------------------------
step "completions and manual pages"
bash -c 'set -e; source /usr/share/bash-completion/completions/keyward; complete -p keyward' \
    >"$work/complete.log" 2>&1 || { cat "$work/complete.log" >&2; fail "bash cannot source the completions"; }
grep -q -- '-F _keyward keyward' "$work/complete.log" || fail "bash completion not registered"
head -n 1 /usr/share/zsh/vendor-completions/_keyward | grep -q '^#compdef keyward' || fail "zsh completion"
grep -q '^complete -c keyward' /usr/share/fish/vendor_completions.d/keyward.fish || fail "fish completion"
pages=0
for page in /usr/share/man/man1/keyward*.1.gz; do
    zcat "$page" | grep -q '^\.TH ' || fail "$page is not a manual page"
    if command -v man >/dev/null 2>&1; then
        warnings=$(MANWIDTH=100 man --warnings -l "$page" 2>&1 >/dev/null) || fail "man -l $page"
        [ -z "$warnings" ] || fail "man -l $page: $warnings"
    fi
    pages=$((pages + 1))
done
[ "$pages" -ge 60 ] || fail "only $pages manual pages"
if command -v man >/dev/null 2>&1; then
    MANWIDTH=100 man -l /usr/share/man/man1/keyward-server.1.gz | grep -q -- '--database-url' ||
        fail "keyward-server(1) does not document --database-url"
fi

# --- upgrade over itself, remove, purge ---------------------------------------------------
step "upgrading over itself"
dpkg -i "$deb" >"$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log" >&2; fail "dpkg -i over the installed package"; }
grep -q "migrate --status" "$work/upgrade.log" || fail "the upgrade does not say what to run before starting"
expect_stat /etc/keyward "root:keyward 750"
expect_stat /etc/keyward/keyward.toml "root:keyward 640"
expect_stat "$db" "keyward:keyward 600"

step "dpkg --remove keeps the database and the user"
dpkg --remove keyward >/dev/null
[ ! -e /usr/bin/keyward-server ] || fail "remove left /usr/bin/keyward-server"
[ -f "$db" ] || fail "remove deleted the database"
getent passwd keyward >/dev/null || fail "remove deleted the user"

step "dpkg --purge removes the user and the state, keeps the administrator's files"
dpkg --purge keyward >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg --purge"; }
! dpkg-query -W -f='${Status}' keyward 2>/dev/null | grep -q 'installed\|config-files' ||
    fail "keyward is still known to dpkg after the purge"
! getent passwd keyward >/dev/null || fail "the purge left the user keyward"
! getent group keyward >/dev/null || fail "the purge left the group keyward"
[ ! -e /var/lib/keyward ] || fail "the purge left /var/lib/keyward"
[ ! -e /etc/keyward/keyward.toml ] || fail "the purge left /etc/keyward/keyward.toml"
[ -f "$admin_files/kek.key" ] || fail "the purge deleted the key-encryption key the administrator made"
grep -q "kept /etc/keyward" "$work/purge.log" || fail "the purge does not say it kept /etc/keyward"
rm -rf "$admin_files"
rmdir /etc/keyward

step "passed in $((SECONDS - started)) s"
