//! Where an account's last committed password was written and the `unicodePwd` version that
//! domain controller gave it (docs/product.md §3.3): a later rotation writes on another
//! controller only once that one has replicated at least this version. All three or none.

use sea_orm_migration::prelude::*;

use super::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "ALTER TABLE account_passwords ADD COLUMN last_commit_url TEXT NULL",
    "ALTER TABLE account_passwords ADD COLUMN last_commit_host TEXT NULL
        CHECK (last_commit_host IS NULL OR last_commit_url IS NOT NULL)",
    "ALTER TABLE account_passwords ADD COLUMN last_commit_password_version BIGINT NULL
        CHECK ((last_commit_password_version IS NULL) = (last_commit_url IS NULL)
            AND (last_commit_password_version IS NULL OR last_commit_password_version >= 0))",
];

const DOWN: &[&str] = &[
    "ALTER TABLE account_passwords DROP COLUMN last_commit_password_version",
    "ALTER TABLE account_passwords DROP COLUMN last_commit_host",
    "ALTER TABLE account_passwords DROP COLUMN last_commit_url",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, UP, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, DOWN, DOWN).await
    }
}
