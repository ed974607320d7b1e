#!/usr/bin/env bash
# Remakes the screenshots of docs/console.md: runs the console's browser test against the AD lab
# with CONSOLE_SCREENSHOT_DIR=docs/console, so each page is shot as the test walks it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-build-deps.sh
scripts/ensure-browser.sh
lab_env=$(lab/up.sh)
export KWLAB_DIR
KWLAB_DIR=$(dirname "$lab_env")
cargo build --workspace --bins
CONSOLE_SCREENSHOT_DIR="$PWD/docs/console" \
    cargo test -p keyward-e2e --test console_browser_e2e -- --nocapture
ls docs/console/*.png
