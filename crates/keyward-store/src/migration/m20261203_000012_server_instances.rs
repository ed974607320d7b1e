//! The running `keyward-server` instances.
//!
//! Each server inserts a row at start, renews `expires_at` while it runs and deletes the row
//! when it stops; a row whose `expires_at` has passed belongs to a server that was killed. An
//! operation that must not run beside a live server (re-sealing every secret under a new
//! key-encryption key) reads the live rows first and names them.

use sea_orm_migration::prelude::*;

use super::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &["CREATE TABLE server_instances (
        id BLOB NOT NULL PRIMARY KEY,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        started_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )"];

const POSTGRES_UP: &[&str] = &["CREATE TABLE server_instances (
        id UUID NOT NULL PRIMARY KEY,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    )"];

const DOWN: &[&str] = &["DROP TABLE server_instances"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, DOWN, DOWN).await
    }
}
