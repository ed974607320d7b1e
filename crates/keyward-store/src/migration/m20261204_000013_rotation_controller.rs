//! The domain controller a rotation in flight is pinned to (docs/product.md §3.3): the URL it
//! was reached by, as configured, and the `dnsHostName` its rootDSE gave. Written before the
//! directory step's first write leaves the process, so a crash keeps it; only a rotation in
//! flight has one, and a host only with a URL.

use sea_orm_migration::prelude::*;

use super::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "ALTER TABLE account_passwords ADD COLUMN pinned_url TEXT NULL
        CHECK (pinned_url IS NULL OR pending_version IS NOT NULL)",
    "ALTER TABLE account_passwords ADD COLUMN pinned_host TEXT NULL
        CHECK (pinned_host IS NULL OR pinned_url IS NOT NULL)",
];

const SQLITE_DOWN: &[&str] = &[
    "ALTER TABLE account_passwords DROP COLUMN pinned_host",
    "ALTER TABLE account_passwords DROP COLUMN pinned_url",
];

const POSTGRES_DOWN: &[&str] = &[
    "ALTER TABLE account_passwords DROP COLUMN pinned_host",
    "ALTER TABLE account_passwords DROP COLUMN pinned_url",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, UP, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, SQLITE_DOWN, POSTGRES_DOWN).await
    }
}
