//! Sync runs, per-domain-controller cursors, per-directory leases, and the missing mark on
//! directory accounts.

use sea_orm_migration::prelude::*;

use super::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "ALTER TABLE directory_accounts ADD COLUMN missing_since TEXT NULL",
    "CREATE TABLE sync_cursors (
        directory TEXT NOT NULL PRIMARY KEY,
        invocation_id TEXT NOT NULL,
        dc_host TEXT NOT NULL,
        highest_usn BIGINT NOT NULL,
        updated_at TEXT NOT NULL
    )",
    "CREATE TABLE sync_runs (
        id BLOB NOT NULL PRIMARY KEY,
        directory TEXT NOT NULL,
        mode TEXT NOT NULL,
        dry_run BOOLEAN NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        started_at TEXT NOT NULL,
        finished_at TEXT NULL,
        report TEXT NOT NULL,
        error TEXT NULL
    )",
    "CREATE INDEX sync_runs_directory ON sync_runs (directory, started_at)",
    "CREATE TABLE sync_leases (
        directory TEXT NOT NULL PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )",
];

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE directory_accounts ADD COLUMN missing_since TIMESTAMPTZ NULL",
    "CREATE TABLE sync_cursors (
        directory TEXT NOT NULL PRIMARY KEY,
        invocation_id TEXT NOT NULL,
        dc_host TEXT NOT NULL,
        highest_usn BIGINT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )",
    "CREATE TABLE sync_runs (
        id UUID NOT NULL PRIMARY KEY,
        directory TEXT NOT NULL,
        mode TEXT NOT NULL,
        dry_run BOOLEAN NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ NULL,
        report JSONB NOT NULL,
        error TEXT NULL
    )",
    "CREATE INDEX sync_runs_directory ON sync_runs (directory, started_at)",
    "CREATE TABLE sync_leases (
        directory TEXT NOT NULL PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    )",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TABLE sync_leases",
    "DROP TABLE sync_runs",
    "DROP TABLE sync_cursors",
    "ALTER TABLE directory_accounts DROP COLUMN missing_since",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, SQLITE_DOWN, SQLITE_DOWN).await
    }
}
