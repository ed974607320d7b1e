//! Schema migrations: frozen history, one file per change.
//!
//! Each migration holds its DDL as literal SQL for each backend, so that what a released
//! version did to a database can be read in one place and never shifts with a library upgrade.
//! A new change is a new file appended to [`Migrator::migrations`]; a released file is never
//! edited. The store tests apply the migrations one at a time from an empty database.

use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use sea_orm_migration::prelude::*;

mod m20261125_000001_initial;
mod m20261125_000002_keys;
mod m20261125_000003_sync;
mod m20261125_000004_outbox;
mod m20261125_000005_passwords;
mod m20261125_000006_invitation_links;
mod m20261202_000007_key_proofs;
mod m20261202_000008_release_key_holders;
mod m20261202_000009_token_scopes;
mod m20261202_000010_workstation_source;
mod m20261203_000011_admins;
mod m20261203_000012_server_instances;
mod m20261204_000013_rotation_controller;
mod m20261207_000014_last_commit;

/// The list of keyward's migrations, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_initial::Migration),
            Box::new(m20261125_000002_keys::Migration),
            Box::new(m20261125_000003_sync::Migration),
            Box::new(m20261125_000004_outbox::Migration),
            Box::new(m20261125_000005_passwords::Migration),
            Box::new(m20261125_000006_invitation_links::Migration),
            Box::new(m20261202_000007_key_proofs::Migration),
            Box::new(m20261202_000008_release_key_holders::Migration),
            Box::new(m20261202_000009_token_scopes::Migration),
            Box::new(m20261202_000010_workstation_source::Migration),
            Box::new(m20261203_000011_admins::Migration),
            Box::new(m20261203_000012_server_instances::Migration),
            Box::new(m20261204_000013_rotation_controller::Migration),
            Box::new(m20261207_000014_last_commit::Migration),
        ]
    }
}

/// Runs each statement of the list that matches the connection's backend.
pub(crate) async fn run_statements(
    manager: &SchemaManager<'_>,
    sqlite: &[&str],
    postgres: &[&str],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let statements = match db.get_database_backend() {
        DbBackend::Postgres => postgres,
        DbBackend::Sqlite => sqlite,
        other => {
            return Err(DbErr::Custom(format!(
                "keyward does not support the {other:?} backend"
            )));
        }
    };
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}
