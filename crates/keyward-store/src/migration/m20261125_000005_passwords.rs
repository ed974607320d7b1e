//! Workstations, the password state of each domain account that lives on a key, and the
//! `password_rotated` notification kind.
//!
//! One `account_passwords` row per account: the committed version and its sealed value, and at
//! most one rotation in flight (`pending_*`), which the CHECK constraints keep consistent.

use sea_orm_migration::prelude::*;

use super::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE TABLE workstations (
        id BLOB NOT NULL PRIMARY KEY,
        name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'revoked')),
        credential_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        approved_at TEXT NULL,
        revoked_at TEXT NULL,
        last_seen_at TEXT NULL
    )",
    "CREATE TABLE account_passwords (
        directory TEXT NOT NULL,
        object_guid BLOB NOT NULL,
        key_serial TEXT NULL,
        version BIGINT NOT NULL,
        sealed_current TEXT NULL,
        committed_at TEXT NULL,
        state TEXT NOT NULL CHECK (state IN
            ('idle', 'awaiting_key', 'awaiting_directory', 'rolling_back')),
        pending_version BIGINT NULL,
        sealed_pending TEXT NULL,
        method TEXT NULL CHECK (method IN ('reset', 'change')),
        reason TEXT NULL,
        requested_by TEXT NULL,
        requested_at TEXT NULL,
        acknowledged_at TEXT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at TEXT NULL,
        claimed_until TEXT NULL,
        last_error TEXT NULL,
        row_version BIGINT NOT NULL,
        PRIMARY KEY (directory, object_guid),
        CHECK ((state = 'idle') = (pending_version IS NULL)),
        CHECK ((pending_version IS NULL) = (sealed_pending IS NULL))
    )",
    "CREATE INDEX account_passwords_key ON account_passwords (key_serial)",
    "CREATE INDEX account_passwords_due ON account_passwords (state, next_attempt_at)",
    // SQLite cannot change a CHECK constraint in place: rebuild the outbox with the new kind.
    "CREATE TABLE outbox_new (
        id BLOB NOT NULL PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('invitation', 'key_assigned', 'password_rotated')),
        employee_id BLOB NOT NULL REFERENCES employees (id),
        recipient TEXT NOT NULL,
        subject_ref TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
        attempts INTEGER NOT NULL,
        next_attempt_at TEXT NOT NULL,
        claimed_until TEXT NULL,
        last_error TEXT NULL,
        created_at TEXT NOT NULL,
        sent_at TEXT NULL
    )",
    "INSERT INTO outbox_new SELECT id, kind, employee_id, recipient, subject_ref, status, attempts,
        next_attempt_at, claimed_until, last_error, created_at, sent_at FROM outbox",
    "DROP TABLE outbox",
    "ALTER TABLE outbox_new RENAME TO outbox",
    "CREATE INDEX outbox_due ON outbox (status, next_attempt_at)",
];

const POSTGRES_UP: &[&str] = &[
    "CREATE TABLE workstations (
        id UUID NOT NULL PRIMARY KEY,
        name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'revoked')),
        credential_hash TEXT NOT NULL UNIQUE,
        created_at TIMESTAMPTZ NOT NULL,
        approved_at TIMESTAMPTZ NULL,
        revoked_at TIMESTAMPTZ NULL,
        last_seen_at TIMESTAMPTZ NULL
    )",
    "CREATE TABLE account_passwords (
        directory TEXT NOT NULL,
        object_guid UUID NOT NULL,
        key_serial TEXT NULL,
        version BIGINT NOT NULL,
        sealed_current TEXT NULL,
        committed_at TIMESTAMPTZ NULL,
        state TEXT NOT NULL CHECK (state IN
            ('idle', 'awaiting_key', 'awaiting_directory', 'rolling_back')),
        pending_version BIGINT NULL,
        sealed_pending TEXT NULL,
        method TEXT NULL CHECK (method IN ('reset', 'change')),
        reason TEXT NULL,
        requested_by TEXT NULL,
        requested_at TIMESTAMPTZ NULL,
        acknowledged_at TIMESTAMPTZ NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at TIMESTAMPTZ NULL,
        claimed_until TIMESTAMPTZ NULL,
        last_error TEXT NULL,
        row_version BIGINT NOT NULL,
        PRIMARY KEY (directory, object_guid),
        CHECK ((state = 'idle') = (pending_version IS NULL)),
        CHECK ((pending_version IS NULL) = (sealed_pending IS NULL))
    )",
    "CREATE INDEX account_passwords_key ON account_passwords (key_serial)",
    "CREATE INDEX account_passwords_due ON account_passwords (state, next_attempt_at)",
    "ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check",
    "ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
        CHECK (kind IN ('invitation', 'key_assigned', 'password_rotated'))",
];

const DOWN: &[&str] = &["DROP TABLE account_passwords", "DROP TABLE workstations"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// All or nothing on SQLite too: the outbox rebuild must never stop half-way.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, DOWN, DOWN).await
    }
}
