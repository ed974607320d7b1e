#!/usr/bin/env bash
# Runs every test of the workspace against real services: SQLite, and PostgreSQL (installed and
# started if needed). This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "export $(scripts/ensure-postgres.sh)"
echo "test-all: PostgreSQL for tests at ${KEYWARD_TEST_POSTGRES_URL%%:*}://…@127.0.0.1:5432"

# The end-to-end tests run the built binaries.
cargo build --workspace --bins
cargo test --workspace --no-fail-fast "$@"
