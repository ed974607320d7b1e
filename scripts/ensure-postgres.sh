#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with a role the tests can use, and
# prints `KEYWARD_TEST_POSTGRES_URL=...` for the caller to export. Installs PostgreSQL from
# Debian's packages when it is missing. Needs root (apt-get, runuser). Idempotent.
set -euo pipefail

role=keyward_test
password=keyward_test
url="postgres://${role}:${password}@127.0.0.1:5432/postgres"

log() { printf 'ensure-postgres: %s\n' "$*" >&2; }

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q postgresql >&2 || { apt-get update -q >&2 && apt-get install -y -q postgresql >&2; }
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    [ -n "$version" ] || { log "no PostgreSQL cluster found under /etc/postgresql"; exit 1; }
    log "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
    for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
    pg_isready -q -h 127.0.0.1 -p 5432 || { log "PostgreSQL did not come up on 127.0.0.1:5432"; exit 1; }
fi

# A password role works whatever pg_hba.conf says for loopback (trust, md5 or scram).
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN
    CREATE ROLE ${role} LOGIN CREATEDB PASSWORD '${password}';
  ELSE
    ALTER ROLE ${role} LOGIN CREATEDB PASSWORD '${password}';
  END IF;
END
\$\$;
SQL

# Leftovers of interrupted test runs.
for db in $(runuser -u postgres -- psql -Atq -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'kw_test_%'"); do
    runuser -u postgres -- psql -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || true
done

echo "KEYWARD_TEST_POSTGRES_URL=${url}"
