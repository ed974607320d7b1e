#!/usr/bin/env bash
# Runs every test of the workspace against real services: SQLite, PostgreSQL, an SMTP server
# (aiosmtpd) and two Samba AD domains, the first with two domain controllers (installed and
# started if needed). This is the README's test command and what CI runs. Needs root (apt-get,
# samba).
set -euo pipefail
cd "$(dirname "$0")/.."

eval "export $(scripts/ensure-postgres.sh)"
echo "test-all: PostgreSQL for tests at ${KEYWARD_TEST_POSTGRES_URL%%:*}://…@127.0.0.1:5432"

# Two real Samba AD domains on 127.0.0.2 and 127.0.0.3 (installed, provisioned and seeded on
# first use; left running for the next run, stop them with lab/down.sh).
lab_env=$(lab/up.sh)
echo "test-all: AD lab ready ($lab_env)"
export KWLAB_DIR
KWLAB_DIR=$(dirname "$lab_env")

# A real SMTP server for the mail tests (aiosmtpd, from PyPI).
if ! python3 -c "import aiosmtpd" 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check aiosmtpd
fi

# Build dependencies (OpenSSL headers for webauthn-rs) and a real browser for the console tests.
scripts/ensure-build-deps.sh
scripts/ensure-browser.sh

# The end-to-end tests run the built binaries.
cargo build --workspace --bins
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The served OpenAPI document against the server's behaviour: schemathesis, every check.
if ! scripts/api-fuzz.sh; then
    status=1
    echo "test result: FAILED. 0 passed; 1 failed (api-fuzz)" >> "$log"
else
    echo "test result: ok. 1 passed; 0 failed (api-fuzz)" >> "$log"
fi
set -e
passed=$(grep -oE '^test result: .* ([0-9]+) passed' "$log" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -oE '^test result: .* ([0-9]+) failed' "$log" | grep -oE '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
echo
echo "test-all: ${passed} passed, ${failed} failed"
exit "$status"
