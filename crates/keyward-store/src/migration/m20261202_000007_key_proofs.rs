//! The proof that a workstation has a key in hand.
//!
//! When a key becomes Active through a workstation, the server gives that workstation a random
//! key proof to store on the key; `keys.proof_hash` keeps only its SHA-256. Another workstation
//! may take over an Active key (and with it the key's password deliveries) only by presenting
//! that proof, which it can read only from the key itself: a serial number alone, which is no
//! secret, is not enough. Keys activated before this migration have no proof: they move to
//! another workstation only through suspend and resume (a new activation code).

use sea_orm_migration::prelude::*;

use super::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &["ALTER TABLE keys ADD COLUMN proof_hash TEXT NULL"];

const DOWN: &[&str] = &["ALTER TABLE keys DROP COLUMN proof_hash"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, UP, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, DOWN, DOWN).await
    }
}
