//! The address a workstation registered from.
//!
//! `source_address` is the client address the server saw at registration (the peer address,
//! or the address a trusted reverse proxy reported); `NULL` for workstations registered before
//! this migration. The credential's fingerprint needs no column: it is the start of the stored
//! `credential_hash`.

use sea_orm_migration::prelude::*;

use super::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &["ALTER TABLE workstations ADD COLUMN source_address TEXT NULL"];

const DOWN: &[&str] = &["ALTER TABLE workstations DROP COLUMN source_address"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, UP, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, DOWN, DOWN).await
    }
}
