//! Reading the schema's state without changing it: which migrations are applied, which this
//! build knows, and whether the database holds anything at all.
//!
//! Only `keyward migrate` (and `keyward-server` on an empty database) changes the schema; every
//! other caller reads this status and refuses a schema that is not the one it was built for.
//! Reading it runs no DDL: unlike sea-orm-migration's own status queries, it does not create the
//! migrations table, so it works on a read-only role and leaves a database exactly as it was.

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::MigratorTrait;

use crate::migration::Migrator;
use crate::{Error, Result, Store};

/// The table in which sea-orm-migration records the applied migrations.
const MIGRATIONS_TABLE: &str = "seaql_migrations";

/// What a database's schema is, compared with the migrations this build knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The applied migrations this build knows, oldest first.
    pub applied: Vec<String>,
    /// The migrations this build knows that are not applied, oldest first.
    pub pending: Vec<String>,
    /// Applied migrations this build does not know (a newer keyward applied them), sorted.
    pub unknown: Vec<String>,
    /// Whether the database holds any table other than the migrations table.
    pub has_tables: bool,
}

/// The verdict of a [`SchemaStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaState {
    /// No migration applied and no table at all: a new database.
    Empty,
    /// Every migration this build knows is applied, and no other.
    Current,
    /// Some migrations this build knows are not applied yet (`keyward migrate` applies them).
    Behind,
    /// Migrations this build does not know are applied: a newer keyward migrated it.
    Ahead,
}

impl SchemaState {
    /// `empty`, `current`, `behind` or `ahead`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Current => "current",
            Self::Behind => "behind",
            Self::Ahead => "ahead",
        }
    }
}

impl SchemaStatus {
    /// The verdict. Unknown applied migrations win over pending ones: a database a newer
    /// keyward touched is never migrated by an older one. A database with tables but no
    /// recorded migration is `Behind`, not `Empty`, so that nothing creates keyward's schema
    /// next to someone else's tables without being asked to.
    pub fn state(&self) -> SchemaState {
        if !self.unknown.is_empty() {
            SchemaState::Ahead
        } else if self.applied.is_empty() && !self.has_tables {
            SchemaState::Empty
        } else if self.pending.is_empty() {
            SchemaState::Current
        } else {
            SchemaState::Behind
        }
    }

    /// Compares the versions recorded in the database with the names this build knows.
    fn compare(known: &[String], recorded: &[String], has_tables: bool) -> Self {
        let recorded_set: HashSet<&str> = recorded.iter().map(String::as_str).collect();
        let known_set: HashSet<&str> = known.iter().map(String::as_str).collect();
        let (applied, pending) = known
            .iter()
            .cloned()
            .partition(|name| recorded_set.contains(name.as_str()));
        let mut unknown: Vec<String> = recorded
            .iter()
            .filter(|name| !known_set.contains(name.as_str()))
            .cloned()
            .collect();
        unknown.sort();
        Self {
            applied,
            pending,
            unknown,
            has_tables,
        }
    }
}

impl Store {
    /// The schema's status, read without changing anything (no DDL, no migrations table
    /// created).
    pub async fn schema_status(&self) -> Result<SchemaStatus> {
        let known: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        let tables = self.table_names().await?;
        let recorded = if tables.iter().any(|t| t == MIGRATIONS_TABLE) {
            self.strings(&format!("SELECT version AS name FROM {MIGRATIONS_TABLE}"))
                .await?
        } else {
            Vec::new()
        };
        let has_tables = tables.iter().any(|t| t != MIGRATIONS_TABLE);
        Ok(SchemaStatus::compare(&known, &recorded, has_tables))
    }

    /// The names of the tables and views in the database (SQLite) or the current schema
    /// (PostgreSQL).
    async fn table_names(&self) -> Result<Vec<String>> {
        let sql = match self.db.get_database_backend() {
            DbBackend::Postgres => {
                "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables \
                 WHERE table_schema = current_schema()"
            }
            _ => {
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') \
                 AND name NOT LIKE 'sqlite_%'"
            }
        };
        self.strings(sql).await
    }

    /// The `name` column of every row of `sql`.
    async fn strings(&self, sql: &str) -> Result<Vec<String>> {
        let schema = |e: sea_orm::DbErr| Error::Schema {
            detail: e.to_string(),
        };
        let backend = self.db.get_database_backend();
        self.db
            .query_all_raw(Statement::from_string(backend, sql.to_owned()))
            .await
            .map_err(schema)?
            .iter()
            .map(|row| row.try_get::<String>("", "name").map_err(schema))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_verdict_follows_the_recorded_migrations() {
        let known = names(&["m1", "m2", "m3"]);
        let cases = [
            (vec![], false, SchemaState::Empty),
            (vec![], true, SchemaState::Behind),
            (vec!["m1"], true, SchemaState::Behind),
            (vec!["m1", "m2", "m3"], true, SchemaState::Current),
            (vec!["m1", "m2", "m3", "m4"], true, SchemaState::Ahead),
            // Unknown migrations win over pending ones.
            (vec!["m1", "m9"], true, SchemaState::Ahead),
            (vec!["m9"], false, SchemaState::Ahead),
        ];
        for (recorded, has_tables, state) in cases {
            let status = SchemaStatus::compare(&known, &names(&recorded), has_tables);
            assert_eq!(status.state(), state, "{recorded:?} {has_tables}");
        }
        let status = SchemaStatus::compare(&known, &names(&["m4", "m3", "m1"]), true);
        assert_eq!(status.applied, names(&["m1", "m3"]));
        assert_eq!(status.pending, names(&["m2"]));
        assert_eq!(status.unknown, names(&["m4"]));
    }
}
