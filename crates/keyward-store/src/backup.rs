//! Logical backup and restore of a whole keyward database, readable by either backend.
//!
//! A backup is one file of JSON lines: a header ([`BackupHeader`]: format, the migrations the
//! database had, and each table with its row count), then every row as
//! `{"table": …, "row": {…}}`, table after table in [`TABLES`] order (parents before the tables
//! that refer to them). It is read in one snapshot (a PostgreSQL `REPEATABLE READ` read-only
//! transaction, or an SQLite read transaction), so a backup taken beside a running server is
//! consistent. Sealed values stay sealed: a restored database needs the same key-encryption
//! key, exactly like a copy of the database file.
//!
//! A restore goes into an empty database that `keyward migrate` brought to the same schema, in
//! one transaction: a header of another schema, a table that is not empty, a row that does not
//! read, a table whose row count differs from the header's (a truncated file), or anything
//! after the last row refuses the whole restore and writes nothing.
//!
//! Not in a backup: `server_instances` and `sync_leases` (the leases of running processes,
//! which would make the restored database look busy) and `webauthn_ceremonies` (challenges
//! that expire within minutes).

use std::io::{BufRead, Write};

use futures_util::TryStreamExt as _;

use chrono::{DateTime, Utc};
use sea_orm::{
    AccessMode, ActiveModelTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    IntoActiveModel, Iterable, PaginatorTrait, PrimaryKeyToColumn, QueryOrder, Statement,
    TransactionOptions, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use crate::entity::{
    account_password, activation_code, admin, admin_credential, admin_enrollment, admin_session,
    api_token, audit_log, directory_account, employee, invitation, invitation_link, key, outbox,
    setting, sync_cursor, sync_run, workstation,
};
use crate::{Backend, Error, INSERT_BATCH, Result, SchemaState, Store};

/// The `format` of every keyward backup file.
pub const BACKUP_FORMAT: &str = "keyward-backup";
/// The layout version this build writes and reads.
pub const BACKUP_VERSION: u32 = 1;

/// The tables in a backup, parents first (the order rows are written and restored in).
pub const TABLES: &[&str] = &[
    "employees",
    "invitations",
    "admins",
    "keys",
    "account_passwords",
    "activation_codes",
    "admin_credentials",
    "admin_enrollments",
    "admin_sessions",
    "api_tokens",
    "audit_log",
    "directory_accounts",
    "invitation_links",
    "outbox",
    "settings",
    "sync_cursors",
    "sync_runs",
    "workstations",
];

/// Tables left out of a backup on purpose (see the module docs).
pub const NOT_BACKED_UP: &[&str] = &["server_instances", "sync_leases", "webauthn_ceremonies"];

/// Rows written between two progress reports of a backup.
const PROGRESS_EVERY: u64 = 500;
/// The longest line a restore reads (a row with a large audit detail stays far below).
const MAX_LINE: usize = 16 * 1024 * 1024;

/// The first line of a backup file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    /// Always [`BACKUP_FORMAT`].
    pub format: String,
    /// The layout version, [`BACKUP_VERSION`].
    pub version: u32,
    /// When the snapshot was read.
    pub created_at: DateTime<Utc>,
    /// `sqlite` or `postgres`: where it was taken (a restore may go to either).
    pub backend: String,
    /// The migrations the database had, oldest first.
    pub migrations: Vec<String>,
    /// Each table with its row count, in the order the rows follow.
    pub tables: Vec<TableRows>,
}

/// A table of a backup and how many rows it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    /// The table.
    pub table: String,
    /// Its rows.
    pub rows: u64,
}

/// Where a backup or a restore is, after each page of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupProgress<'a> {
    /// The table being read or written.
    pub table: &'a str,
    /// Rows of the whole backup done so far.
    pub done: u64,
    /// Rows in the whole backup.
    pub of: u64,
}

#[derive(Serialize)]
struct RowOut<'a, M> {
    table: &'a str,
    row: &'a M,
}

#[derive(Deserialize)]
struct RowIn {
    table: String,
    row: serde_json::Value,
}

/// One call per table, naming its entity: `$call!(Entity, ActiveModel)`.
macro_rules! for_table {
    ($name:expr, $call:ident) => {
        match $name {
            "employees" => $call!(employee),
            "invitations" => $call!(invitation),
            "admins" => $call!(admin),
            "keys" => $call!(key),
            "account_passwords" => $call!(account_password),
            "activation_codes" => $call!(activation_code),
            "admin_credentials" => $call!(admin_credential),
            "admin_enrollments" => $call!(admin_enrollment),
            "admin_sessions" => $call!(admin_session),
            "api_tokens" => $call!(api_token),
            "audit_log" => $call!(audit_log),
            "directory_accounts" => $call!(directory_account),
            "invitation_links" => $call!(invitation_link),
            "outbox" => $call!(outbox),
            "settings" => $call!(setting),
            "sync_cursors" => $call!(sync_cursor),
            "sync_runs" => $call!(sync_run),
            "workstations" => $call!(workstation),
            other => Err(Error::Backup {
                detail: format!("table {other} is not one a backup holds"),
            }),
        }
    };
}

fn io_error(e: &std::io::Error) -> Error {
    Error::Backup {
        detail: format!("cannot write the backup: {e}"),
    }
}

impl Store {
    /// Writes a backup of the whole database to `out` (see the module docs) and returns its
    /// header. `progress` hears every few hundred rows.
    pub async fn write_backup(
        &self,
        out: &mut (dyn Write + Send),
        progress: &mut (dyn FnMut(BackupProgress<'_>) + Send),
    ) -> Result<BackupHeader> {
        let status = self.schema_status().await?;
        if status.state() != SchemaState::Current {
            return Err(Error::Backup {
                detail: format!(
                    "the schema is {}, not current: back it up with the keyward that matches it",
                    status.state().as_str()
                ),
            });
        }
        let options = match self.backend() {
            Backend::Postgres => TransactionOptions {
                isolation_level: Some(sea_orm::IsolationLevel::RepeatableRead),
                access_mode: Some(AccessMode::ReadOnly),
                ..TransactionOptions::default()
            },
            Backend::Sqlite => TransactionOptions::default(),
        };
        let txn = self.db.begin_with_options(options).await?;
        let mut tables = Vec::with_capacity(TABLES.len());
        for &table in TABLES {
            macro_rules! count {
                ($m:ident) => {
                    $m::Entity::find().count(&txn).await.map_err(Error::from)
                };
            }
            let rows = for_table!(table, count)?;
            tables.push(TableRows {
                table: table.to_owned(),
                rows,
            });
        }
        let header = BackupHeader {
            format: BACKUP_FORMAT.to_owned(),
            version: BACKUP_VERSION,
            created_at: Utc::now(),
            backend: match self.backend() {
                Backend::Postgres => "postgres",
                Backend::Sqlite => "sqlite",
            }
            .to_owned(),
            migrations: status.applied,
            tables,
        };
        serde_json::to_writer(&mut *out, &header).map_err(|e| Error::Backup {
            detail: e.to_string(),
        })?;
        out.write_all(b"\n").map_err(|e| io_error(&e))?;
        let of = header.tables.iter().map(|t| t.rows).sum();
        let mut done = 0;
        for expected in &header.tables {
            macro_rules! export {
                ($m:ident) => {
                    export_table::<$m::Entity>(&txn, &expected.table, &mut *out, &mut |n| {
                        progress(BackupProgress {
                            table: &expected.table,
                            done: done + n,
                            of,
                        });
                    })
                    .await
                };
            }
            let written = for_table!(expected.table.as_str(), export)?;
            if written != expected.rows {
                return Err(Error::Backup {
                    detail: format!(
                        "{} changed while it was read ({} rows counted, {written} read)",
                        expected.table, expected.rows
                    ),
                });
            }
            done += written;
        }
        out.flush().map_err(|e| io_error(&e))?;
        txn.commit().await?;
        Ok(header)
    }

    /// Restores a backup read from `input` into this database, which must be empty and at the
    /// backup's schema (see the module docs); returns the backup's header.
    pub async fn restore_backup(
        &self,
        input: &mut (dyn BufRead + Send),
        progress: &mut (dyn FnMut(BackupProgress<'_>) + Send),
    ) -> Result<BackupHeader> {
        let mut lines = Lines { input, number: 0 };
        let first = lines.next_line()?.ok_or_else(|| Error::Backup {
            detail: "the file is empty".to_owned(),
        })?;
        let header: BackupHeader = serde_json::from_str(&first).map_err(|e| Error::Backup {
            detail: format!("line 1 is not a keyward backup header: {e}"),
        })?;
        self.check_restorable(&header).await?;

        let txn = self.begin_write().await?;
        let of = header.tables.iter().map(|t| t.rows).sum();
        let mut done = 0;
        for expected in &header.tables {
            let mut batch = Vec::with_capacity(INSERT_BATCH);
            let mut read = 0;
            while read < expected.rows {
                let line = lines.next_line()?.ok_or_else(|| Error::Backup {
                    detail: format!(
                        "the file ends after {read} of the {} rows of {}: it is truncated",
                        expected.rows, expected.table
                    ),
                })?;
                let row: RowIn = serde_json::from_str(&line).map_err(|e| Error::Backup {
                    detail: format!("line {}: not a backup row: {e}", lines.number),
                })?;
                if row.table != expected.table {
                    return Err(Error::Backup {
                        detail: format!(
                            "line {}: a row of {} where row {} of the {} of {} was due",
                            lines.number,
                            row.table,
                            read + 1,
                            expected.rows,
                            expected.table
                        ),
                    });
                }
                batch.push((lines.number, row.row));
                read += 1;
                if batch.len() == INSERT_BATCH || read == expected.rows {
                    macro_rules! import {
                        ($m:ident) => {
                            import_rows::<$m::Entity, $m::ActiveModel>(
                                &txn,
                                &expected.table,
                                std::mem::take(&mut batch),
                            )
                            .await
                        };
                    }
                    for_table!(expected.table.as_str(), import)?;
                    progress(BackupProgress {
                        table: &expected.table,
                        done: done + read,
                        of,
                    });
                }
            }
            done += read;
        }
        while let Some(extra) = lines.next_line()? {
            if !extra.trim().is_empty() {
                return Err(Error::Backup {
                    detail: format!(
                        "line {}: more after the last row the header counts",
                        lines.number
                    ),
                });
            }
        }
        if self.backend() == Backend::Postgres {
            // audit_log.seq came with the rows: the sequence goes on after the highest.
            txn.execute_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT setval(pg_get_serial_sequence('audit_log', 'seq'), \
                 COALESCE((SELECT MAX(seq) FROM audit_log), 0) + 1, false)",
            ))
            .await?;
        }
        txn.commit().await?;
        Ok(header)
    }

    /// Refuses a header of another format or schema, and a database that holds rows.
    async fn check_restorable(&self, header: &BackupHeader) -> Result<()> {
        if header.format != BACKUP_FORMAT || header.version != BACKUP_VERSION {
            return Err(Error::Backup {
                detail: format!(
                    "format {:?} version {} is not a backup this keyward reads ({BACKUP_FORMAT} \
                     version {BACKUP_VERSION})",
                    header.format, header.version
                ),
            });
        }
        let status = self.schema_status().await?;
        if status.state() != SchemaState::Current || status.applied != header.migrations {
            return Err(Error::Backup {
                detail: format!(
                    "the backup was taken at schema {} and this database is at {}: restore into \
                     a new database that `keyward migrate` of the keyward that took the backup \
                     made",
                    header.migrations.last().map_or("(none)", String::as_str),
                    status.applied.last().map_or("(none)", String::as_str),
                ),
            });
        }
        let listed: Vec<&str> = header.tables.iter().map(|t| t.table.as_str()).collect();
        if listed != TABLES {
            return Err(Error::Backup {
                detail: format!("the header lists the tables {listed:?}, not {TABLES:?}"),
            });
        }
        for &table in TABLES.iter().chain(NOT_BACKED_UP) {
            let rows = self.count_rows(table).await?;
            if rows > 0 {
                return Err(Error::Backup {
                    detail: format!(
                        "this database is not empty ({table} holds {rows} rows): restore into a \
                         new database made with `keyward migrate`"
                    ),
                });
            }
        }
        Ok(())
    }

    async fn count_rows(&self, table: &str) -> Result<u64> {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await?;
        let n: i64 = row.map_or(Ok(0), |r| r.try_get("", "n"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Writes every row of `E` in primary-key order; returns how many.
async fn export_table<E>(
    txn: &DatabaseTransaction,
    table: &str,
    out: &mut (dyn Write + Send),
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<u64>
where
    E: EntityTrait,
    E::Model: Serialize + Sync,
{
    let mut query = E::find();
    for pk in E::PrimaryKey::iter() {
        query = query.order_by_asc(pk.into_column());
    }
    // One query streamed in primary-key order: linear in the table, flat in memory (pages by
    // OFFSET would read the table again for every page).
    let mut rows = query.stream(txn).await?;
    let mut written: u64 = 0;
    while let Some(model) = rows.try_next().await? {
        serde_json::to_writer(&mut *out, &RowOut { table, row: &model }).map_err(|e| {
            Error::Backup {
                detail: format!("a row of {table} does not write: {e}"),
            }
        })?;
        out.write_all(b"\n").map_err(|e| io_error(&e))?;
        written += 1;
        if written.is_multiple_of(PROGRESS_EVERY) {
            progress(written);
        }
    }
    progress(written);
    Ok(written)
}

/// Inserts rows of `E` read from a backup (each with its line number, for the error).
async fn import_rows<E, A>(
    txn: &DatabaseTransaction,
    table: &str,
    rows: Vec<(u64, serde_json::Value)>,
) -> Result<()>
where
    E: EntityTrait,
    A: ActiveModelTrait<Entity = E> + Send,
    E::Model: for<'de> Deserialize<'de> + IntoActiveModel<A>,
{
    let mut models = Vec::with_capacity(rows.len());
    for (line, value) in rows {
        let model: E::Model = serde_json::from_value(value).map_err(|e| Error::Backup {
            detail: format!("line {line}: not a row of {table}: {e}"),
        })?;
        models.push(model.into_active_model());
    }
    if models.is_empty() {
        return Ok(());
    }
    E::insert_many(models)
        .exec(txn)
        .await
        .map_err(|e| Error::Backup {
            detail: format!("rows of {table} do not insert: {e}"),
        })?;
    Ok(())
}

/// Lines of a backup file, counted, each at most [`MAX_LINE`] bytes.
struct Lines<'a> {
    input: &'a mut (dyn BufRead + Send),
    number: u64,
}

impl Lines<'_> {
    fn next_line(&mut self) -> Result<Option<String>> {
        let mut buf = Vec::new();
        let mut limited = std::io::Read::take(&mut *self.input, MAX_LINE as u64 + 1);
        let read = limited
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::Backup {
                detail: format!("cannot read the backup: {e}"),
            })?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        if buf.len() > MAX_LINE {
            return Err(Error::Backup {
                detail: format!("line {} is longer than {MAX_LINE} bytes", self.number),
            });
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        String::from_utf8(buf).map(Some).map_err(|_| Error::Backup {
            detail: format!("line {} is not UTF-8", self.number),
        })
    }
}
