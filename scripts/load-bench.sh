#!/usr/bin/env bash
# Load benchmark of the agent API and the admin listing routes (tests/bench/agent_load.rs):
# the release keyward-server on SQLite and PostgreSQL, driven by wrk. Prints a table.
# Knobs (environment): LOAD_WORKSTATIONS (2000), LOAD_SECONDS per route (15),
# LOAD_CONNECTIONS (64), LOAD_THREADS (2). Needs root for apt and PostgreSQL on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    apt-get install -y -q wrk >/dev/null
fi
# ensure-postgres.sh drops leftover test databases: only when PostgreSQL is not up yet, so a
# test run beside this benchmark keeps its databases.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    scripts/ensure-postgres.sh >/dev/null
fi
export KEYWARD_TEST_POSTGRES_URL="${KEYWARD_TEST_POSTGRES_URL:-postgres://keyward_test:keyward_test@127.0.0.1:5432/postgres}"
cargo build --release -q -p keyward-server
cargo bench -q -p keyward-e2e --bench agent_load
