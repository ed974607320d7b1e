#!/usr/bin/env bash
# Runs every test of the workspace against real services: SQLite, and PostgreSQL (installed and
# started if needed). This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "export $(scripts/ensure-postgres.sh)"
echo "test-all: PostgreSQL for tests at ${KEYWARD_TEST_POSTGRES_URL%%:*}://…@127.0.0.1:5432"

# The end-to-end tests run the built binaries.
cargo build --workspace --bins
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -oE '^test result: .* ([0-9]+) passed' "$log" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -oE '^test result: .* ([0-9]+) failed' "$log" | grep -oE '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
echo
echo "test-all: ${passed} passed, ${failed} failed"
exit "$status"
