//! Outgoing mail (an outbox written in the same transaction as what causes it) and invitations.

use sea_orm_migration::prelude::*;

use super::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE TABLE outbox (
        id BLOB NOT NULL PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('invitation', 'key_assigned')),
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
    "CREATE INDEX outbox_due ON outbox (status, next_attempt_at)",
    "CREATE TABLE invitations (
        id BLOB NOT NULL PRIMARY KEY,
        employee_id BLOB NOT NULL REFERENCES employees (id),
        token_hash TEXT NULL UNIQUE,
        status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'revoked')),
        expires_at TEXT NOT NULL,
        created_at TEXT NOT NULL,
        accepted_at TEXT NULL
    )",
    "CREATE INDEX invitations_employee ON invitations (employee_id)",
];

const POSTGRES_UP: &[&str] = &[
    "CREATE TABLE outbox (
        id UUID NOT NULL PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('invitation', 'key_assigned')),
        employee_id UUID NOT NULL REFERENCES employees (id),
        recipient TEXT NOT NULL,
        subject_ref TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
        attempts INTEGER NOT NULL,
        next_attempt_at TIMESTAMPTZ NOT NULL,
        claimed_until TIMESTAMPTZ NULL,
        last_error TEXT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        sent_at TIMESTAMPTZ NULL
    )",
    "CREATE INDEX outbox_due ON outbox (status, next_attempt_at)",
    "CREATE TABLE invitations (
        id UUID NOT NULL PRIMARY KEY,
        employee_id UUID NOT NULL REFERENCES employees (id),
        token_hash TEXT NULL UNIQUE,
        status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'revoked')),
        expires_at TIMESTAMPTZ NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        accepted_at TIMESTAMPTZ NULL
    )",
    "CREATE INDEX invitations_employee ON invitations (employee_id)",
];

const DOWN: &[&str] = &["DROP TABLE invitations", "DROP TABLE outbox"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, DOWN, DOWN).await
    }
}
