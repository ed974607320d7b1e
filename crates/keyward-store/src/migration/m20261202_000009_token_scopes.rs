//! Scopes and an expiry for administrator API tokens.
//!
//! `scopes` is a comma-separated list of scope names (`read`, `sync`, `keys`, `workstations`,
//! `passwords`, `admin`), never empty; `expires_at` is when the token stops working (`NULL`:
//! never). Every token created before this migration keeps working as it did: it gets the
//! scope `admin` (everything) and no expiry. No default remains on the column afterwards, so a
//! new token always names its scopes.

use sea_orm_migration::prelude::*;

use super::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

// SQLite cannot add a NOT NULL column without a default, nor drop a default later: rebuild
// the table (nothing references it).
const SQLITE_UP: &[&str] = &[
    "CREATE TABLE api_tokens_new (
        id BLOB NOT NULL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        secret_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_used_at TEXT NULL,
        revoked_at TEXT NULL,
        scopes TEXT NOT NULL CHECK (scopes <> ''),
        expires_at TEXT NULL
    )",
    "INSERT INTO api_tokens_new (id, name, secret_hash, created_at, last_used_at, revoked_at,
        scopes, expires_at)
        SELECT id, name, secret_hash, created_at, last_used_at, revoked_at, 'admin', NULL
        FROM api_tokens",
    "DROP TABLE api_tokens",
    "ALTER TABLE api_tokens_new RENAME TO api_tokens",
];

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'admin' CHECK (scopes <> '')",
    "ALTER TABLE api_tokens ALTER COLUMN scopes DROP DEFAULT",
    "ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMPTZ NULL",
];

const DOWN: &[&str] = &[
    "ALTER TABLE api_tokens DROP COLUMN expires_at",
    "ALTER TABLE api_tokens DROP COLUMN scopes",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on both backends: it keeps the rebuild on one SQLite connection
    /// (another connection of the pool could still hold the old table in its schema cache and
    /// refuse the rename), and a failure leaves the old table as it was.
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
