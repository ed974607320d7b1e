#!/usr/bin/env bash
# stop-ad.sh DATADIR [--purge]
#
# Stops the samba AD DC that start-ad.sh started for DATADIR: SIGTERM to the PID recorded in
# DATADIR/run/samba.pid (only after checking it is a samba process serving DATADIR), waits, and
# SIGKILLs that samba's own process group (its workers) only if it does not stop. Never matches
# processes by name. --purge then deletes DATADIR, but only when it carries start-ad.sh's marker.
set -euo pipefail
LAB_PROG=stop-ad
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

purge=no
args=()
for a in "$@"; do
  case "$a" in
    --purge) purge=yes ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $a" ;;
    *) args+=("$a") ;;
  esac
done
[ ${#args[@]} -eq 1 ] || { echo "usage: $0 DATADIR [--purge]" >&2; exit 2; }
DATADIR="${args[0]%/}"
case "$DATADIR" in /*) ;; *) DATADIR="$PWD/$DATADIR" ;; esac
LAB_PROG="stop-ad[${DATADIR##*/}]"
PIDFILE="$DATADIR/run/samba.pid"
TIMEOUT="${AD_STOP_TIMEOUT:-20}"

group_alive() { [ -n "$(ps -o pid= -g "$1" 2>/dev/null)" ]; }

if [ ! -d "$DATADIR" ]; then
  log "$DATADIR does not exist; nothing to do"
  exit 0
fi

pid=""
if [ -s "$PIDFILE" ]; then pid="$(tr -dc '0-9' <"$PIDFILE")"; fi
if [ -z "$pid" ]; then
  log "no $PIDFILE: samba is not running for $DATADIR"
elif ! is_our_samba "$pid" "$DATADIR"; then
  log "pid $pid from $PIDFILE is not a samba serving $DATADIR (stale pid file); not signalling it"
  rm -f "$PIDFILE"
else
  t0="$(now_ns)"
  # samba -D makes its root process a session and process-group leader; its workers share the group.
  pgid="$(ps -o pgid= -p "$pid" | tr -d ' ')"
  log "stopping samba pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((TIMEOUT * 10))); do
    is_our_samba "$pid" "$DATADIR" || break
    sleep 0.1
  done
  if [ "$pgid" = "$pid" ]; then
    # give the workers a moment to follow their parent, then make sure
    for _ in $(seq 1 30); do group_alive "$pid" || break; sleep 0.1; done
    if group_alive "$pid"; then
      log "samba process group $pid still alive after ${TIMEOUT}s; sending SIGKILL to it"
      kill -KILL -- "-$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do group_alive "$pid" || break; sleep 0.1; done
    fi
  elif is_our_samba "$pid" "$DATADIR"; then
    log "samba pid $pid still alive after ${TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  is_our_samba "$pid" "$DATADIR" && die "samba pid $pid did not stop"
  rm -f "$PIDFILE"
  log "stopped in $(since "$t0")s"
fi

if [ $purge = yes ]; then
  [ -f "$DATADIR/$LAB_MARKER" ] || die "$DATADIR has no $LAB_MARKER marker (not made by start-ad.sh); not deleting it"
  rm -rf -- "$DATADIR"
  log "deleted $DATADIR"
fi
