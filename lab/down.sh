#!/usr/bin/env bash
# down.sh [--purge] — stops the lab domains started by up.sh (under $KWLAB_DIR, default
# /tmp/keyward-lab), by their recorded PIDs. --purge also deletes their data directories and lab.env.
set -euo pipefail
LAB_PROG=down
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

purge=()
case "${1:-}" in
  "") ;;
  --purge) purge=(--purge) ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "usage: $0 [--purge]" ;;
esac
LAB_DIR="${KWLAB_DIR:-/tmp/keyward-lab}"
case "$LAB_DIR" in /*) ;; *) LAB_DIR="$PWD/$LAB_DIR" ;; esac
LAB_DIR="${LAB_DIR%/}"
[ -d "$LAB_DIR" ] || { log "$LAB_DIR does not exist; nothing to stop"; exit 0; }

exec 9>"$LAB_DIR/.lock"
flock -w 300 9 || die "another up.sh/down.sh has held $LAB_DIR/.lock for 300 s; giving up"

pids=() failed=0
for name in corp1 corp2 corp1-dc2; do
  "$HERE/stop-ad.sh" "$LAB_DIR/$name" "${purge[@]}" 9>&- &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
[ $failed -eq 0 ] || die "could not stop every domain"

if [ ${#purge[@]} -gt 0 ]; then
  rm -f "$LAB_DIR/lab.env" "$LAB_DIR"/corp[12].{start,seed}.log "$LAB_DIR/corp1-dc2.start.log"
  rm -f "$LAB_DIR/.lock"
  rmdir "$LAB_DIR" 2>/dev/null || log "left $LAB_DIR in place (it holds other files)"
else
  rm -f "$LAB_DIR/lab.env"
fi
