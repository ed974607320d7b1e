//! Every key's holder is released once, when the holder became part of the key's state.
//!
//! Before this release a workstation could become a key's holder by reporting the serial of a
//! key that was not Active, and keep it through a later resume. From this migration on, a
//! workstation holds a key only after proving possession (the activation code typed on it, or
//! the key proof read from the key) since the key's last status change. A holder recorded
//! before cannot be told apart from one that proved nothing, so each is released: an agent
//! holds its key again by presenting the proof on its next `seen`. A key without a proof
//! (activated before migration 7) is resumed on the workstation: suspend it, and the user types
//! the new code there.

use sea_orm_migration::prelude::*;

use super::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &["UPDATE keys SET linked_workstation = NULL"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, UP, UP).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Released holders are not restored: nothing to undo.
        Ok(())
    }
}
