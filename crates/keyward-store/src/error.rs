//! The one error type of this crate.

use sea_orm::{DbErr, SqlErr};

/// What went wrong talking to the database, in keyward's terms.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing asked for does not exist.
    #[error("{what} {key} not found")]
    NotFound {
        /// What kind of thing.
        what: &'static str,
        /// How it was named.
        key: String,
    },
    /// A unique rule would be broken, such as a second employee with the same e-mail.
    #[error("{what} {key} already exists")]
    Conflict {
        /// What kind of thing.
        what: &'static str,
        /// The clashing value.
        key: String,
    },
    /// The record changed since it was read (another operation won the race).
    #[error("{what} {key} changed concurrently; read it again and retry")]
    Stale {
        /// What kind of thing.
        what: &'static str,
        /// Which one.
        key: String,
    },
    /// A sync write was refused because the run no longer holds its directory's lease (it
    /// expired, and another run may hold it now). Nothing of that write was applied.
    #[error(
        "the sync lease of {directory} is no longer held by this run; nothing of this write was applied"
    )]
    LeaseLost {
        /// The directory.
        directory: String,
    },
    /// A page cursor that no listing of this store produced.
    #[error("invalid page cursor {cursor:?}: pass the next_cursor of the previous page unchanged")]
    InvalidCursor {
        /// The cursor as given.
        cursor: String,
    },
    /// The database URL cannot be used.
    #[error("invalid database URL: {reason}")]
    InvalidUrl {
        /// Why.
        reason: String,
    },
    /// The database cannot be reached or opened.
    #[error("database unavailable: {source}")]
    Unavailable {
        /// The driver's error.
        #[source]
        source: DbErr,
    },
    /// The schema was written by a newer keyward, or migrations failed.
    #[error("database schema problem: {detail}")]
    Schema {
        /// What the migrator said.
        detail: String,
    },
    /// A stored row is not valid keyward data (for example an unknown status code): an error,
    /// never read as a default.
    #[error("corrupt stored data in {table} row {row}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The row's key, e.g. `corp1/<objectGUID>`.
        row: String,
        /// What is wrong.
        detail: String,
    },
    /// A backup could not be written, or a backup file cannot be restored (nothing of it was
    /// written then).
    #[error("backup: {detail}")]
    Backup {
        /// What is wrong, with the line of the file where it applies.
        detail: String,
    },
    /// Any other database error.
    #[error("database error: {source}")]
    Database {
        /// The driver's error.
        #[source]
        source: DbErr,
    },
}

impl Error {
    /// Classifies a driver error; a unique violation becomes [`Error::Conflict`] on `what`/`key`.
    pub(crate) fn from_write(err: DbErr, what: &'static str, key: impl Into<String>) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::Conflict {
                what,
                key: key.into(),
            },
            _ => Self::from(err),
        }
    }

    pub(crate) fn corrupt(
        table: &'static str,
        row: &impl ToString,
        detail: &impl ToString,
    ) -> Self {
        Self::Corrupt {
            table,
            row: row.to_string(),
            detail: detail.to_string(),
        }
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        match err {
            DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => Self::Unavailable { source: err },
            other => Self::Database { source: other },
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
