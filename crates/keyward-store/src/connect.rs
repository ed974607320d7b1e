//! Opening the database and running migrations.

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::migration::Migrator;
use crate::{Error, Result};

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, a file or in memory.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A connection pool to keyward's database.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    backend: Backend,
}

impl Store {
    /// Connects to `url`. The schema is not touched: call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Self> {
        let backend = backend_of(url)?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        if in_memory {
            // Every SQLite connection to `:memory:` is its own database: keep exactly one alive.
            options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None::<Duration>)
                .max_lifetime(None::<Duration>);
        } else if backend == Backend::Sqlite {
            options.max_connections(8);
            create_private_sqlite_file(url);
        }
        let db = Database::connect(options)
            .await
            .map_err(|source| Error::Unavailable { source })?;
        if backend == Backend::Sqlite && !in_memory {
            // WAL lets the server read while the CLI writes; it is a property of the file.
            db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        }
        Ok(Self { db, backend })
    }

    /// Starts a transaction that may write. On SQLite it is `BEGIN IMMEDIATE`: it takes the
    /// write lock up front and waits its turn (the busy timeout), where a deferred transaction
    /// that read first would fail with `database is locked` when another connection wrote in
    /// between (its snapshot can no longer become a write).
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction> {
        let options = TransactionOptions {
            sqlite_transaction_mode: (self.backend == Backend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        Ok(self.db.begin_with_options(options).await?)
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every migration not yet applied. Refuses a schema written by a newer keyward
    /// (applied migrations this build does not know) and changes nothing then.
    pub async fn migrate(&self) -> Result<()> {
        self.refuse_newer().await?;
        Migrator::up(&self.db, None)
            .await
            .map_err(|e| Error::Schema {
                detail: e.to_string(),
            })
    }

    /// Applies the oldest pending migration only; returns its name, or `None` when the schema is
    /// current. For upgrade tests that check each migration against the schema before it.
    pub async fn migrate_one_step(&self) -> Result<Option<String>> {
        self.refuse_newer().await?;
        let status = self.schema_status().await?;
        let Some(next) = status.pending.first().cloned() else {
            return Ok(None);
        };
        Migrator::up(&self.db, Some(1))
            .await
            .map_err(|e| Error::Schema {
                detail: e.to_string(),
            })?;
        Ok(Some(next))
    }

    /// Names of the migrations applied and of those still pending, in order (read only; see
    /// [`Store::schema_status`] for the whole picture).
    pub async fn migration_status(&self) -> Result<(Vec<String>, Vec<String>)> {
        let status = self.schema_status().await?;
        Ok((status.applied, status.pending))
    }

    async fn refuse_newer(&self) -> Result<()> {
        let status = self.schema_status().await?;
        if status.unknown.is_empty() {
            Ok(())
        } else {
            Err(Error::Schema {
                detail: format!(
                    "the database has migrations this keyward does not know ({}): it was \
                     migrated by a newer keyward",
                    status.unknown.join(", ")
                ),
            })
        }
    }

    /// Checks that the database answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        self.db
            .ping()
            .await
            .map_err(|source| Error::Unavailable { source })
    }

    /// Closes the pool.
    pub async fn close(self) -> Result<()> {
        self.db.close().await.map_err(Error::from)
    }
}

/// The file path of an SQLite URL (`sqlite://PATH?…`, `sqlite:PATH`), `None` for memory.
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// Creates a missing SQLite database file readable by its owner only (0600): it holds the
/// hashes of every credential and the sealed passwords. SQLite gives its journal and WAL files
/// the permissions of the database file. An existing file is left as it is.
fn create_private_sqlite_file(url: &str) {
    let Some(path) = sqlite_path(url) else {
        return;
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    // An existing file is kept; a missing directory or no right to write is reported by
    // SQLite's own open right after, in its words.
    drop(options.open(&path));
}

fn backend_of(url: &str) -> Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(Error::InvalidUrl {
            reason: "it must start with sqlite:, postgres:// or postgresql://".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://data/k.db?mode=rwc"),
            Some("data/k.db".into())
        );
        assert_eq!(sqlite_path("sqlite:k.db"), Some("k.db".into()));
        assert_eq!(
            sqlite_path("sqlite:///var/lib/k.db"),
            Some("/var/lib/k.db".into())
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_sqlite_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        for file in [path.clone(), dir.path().join("k.db-wal")] {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
    }

    #[test]
    fn urls_pick_the_backend() {
        assert_eq!(backend_of("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert_eq!(
            backend_of("sqlite://x.db?mode=rwc").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(backend_of("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert!(backend_of("mysql://u@h/db").is_err());
    }
}
