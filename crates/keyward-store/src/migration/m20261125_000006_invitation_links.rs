//! Several links per invitation, and the sealed activation code a key notification may carry.
//!
//! `invitation_links` holds the SHA-256 of every link token made for an invitation. A message
//! that is sent twice (the sender died after the SMTP server took it and before it recorded
//! that) carries a second token; the first copy's link must keep working, so links are added,
//! never replaced, until the invitation ends or an administrator resends it.
//!
//! The links already stored in `invitations.token_hash` are copied over and the column is
//! cleared. The column itself stays: SQLite cannot drop a UNIQUE column without rebuilding the
//! table, and nothing reads it any more.
//!
//! `outbox.sealed_activation_code` holds a key notification's activation code sealed with the
//! key-encryption key (only when `mail.include_activation_code` is set); it is cleared once the
//! message is sent, cancelled or given up.

use sea_orm_migration::prelude::*;

use super::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE TABLE invitation_links (
        token_hash TEXT NOT NULL PRIMARY KEY,
        invitation_id BLOB NOT NULL REFERENCES invitations (id),
        created_at TEXT NOT NULL
    )",
    "CREATE INDEX invitation_links_invitation ON invitation_links (invitation_id)",
    "INSERT INTO invitation_links (token_hash, invitation_id, created_at)
        SELECT token_hash, id, created_at FROM invitations WHERE token_hash IS NOT NULL",
    "UPDATE invitations SET token_hash = NULL",
    "ALTER TABLE outbox ADD COLUMN sealed_activation_code TEXT NULL",
];

const POSTGRES_UP: &[&str] = &[
    "CREATE TABLE invitation_links (
        token_hash TEXT NOT NULL PRIMARY KEY,
        invitation_id UUID NOT NULL REFERENCES invitations (id),
        created_at TIMESTAMPTZ NOT NULL
    )",
    "CREATE INDEX invitation_links_invitation ON invitation_links (invitation_id)",
    "INSERT INTO invitation_links (token_hash, invitation_id, created_at)
        SELECT token_hash, id, created_at FROM invitations WHERE token_hash IS NOT NULL",
    "UPDATE invitations SET token_hash = NULL",
    "ALTER TABLE outbox ADD COLUMN sealed_activation_code TEXT NULL",
];

const DOWN: &[&str] = &[
    "ALTER TABLE outbox DROP COLUMN sealed_activation_code",
    "DROP TABLE invitation_links",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// All or nothing on SQLite too: links copied but the column not added must never happen.
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
