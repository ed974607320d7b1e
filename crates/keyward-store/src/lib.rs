//! keyward's storage: entities, migrations and repositories.
//!
//! Place in the layers: above `keyward-model` and the pure crates (`keyward-keys`,
//! `keyward-rotation`); below `keyward-service`. It never depends on `keyward-directory` or
//! `keyward-service`, and its sea-orm entities are private: the public API speaks the model's and
//! the pure crates' types only, so no caller ever names `sea_orm`. Each row becomes its domain
//! type through a fallible conversion (`TryFrom` for password and workstation rows); a row that
//! does not read as one is [`Error::Corrupt`] naming the row, never a silent default.
//!
//! The backend is chosen by URL: `sqlite://path?mode=rwc` (the embedded default),
//! `sqlite::memory:` (tests), or `postgres://…` (production and several server instances).
//!
//! Invariants:
//! - migrations are frozen history: a released migration file never changes; a change is a new
//!   file (see [`migration`]);
//! - the audit log is append-only: the store has no update or delete for it, and database
//!   triggers refuse `UPDATE` and `DELETE` on it from any client;
//! - a write and its audit record commit in one transaction or not at all;
//! - API token secrets are stored only as hashes computed by the caller.
//!
//! ```no_run
//! # async fn demo() -> keyward_store::Result<()> {
//! let store = keyward_store::Store::connect("sqlite::memory:").await?;
//! store.migrate().await?;
//! let first_page = store.list_employees(&keyward_model::PageRequest::first()).await?;
//! assert!(first_page.items.is_empty());
//! # Ok(()) }
//! ```

mod accounts;
mod admins;
mod audit;
mod backup;
mod connect;
mod employees;
mod entity;
mod error;
mod invitations;
mod keys;
pub mod migration;
mod outbox;
mod overview;
mod passwords;
mod schema;
mod sealed;
mod server_instances;
mod settings;
mod sync;
mod tokens;
mod workstations;

pub use admins::{
    AdminSession, NewAdminSession, NewEnrollment, StoredCeremony, StoredCredential,
    StoredEnrollment,
};
pub use audit::AuditFilter;
pub use backup::{
    BACKUP_FORMAT, BACKUP_VERSION, BackupHeader, BackupProgress, NOT_BACKED_UP, TABLES, TableRows,
};
pub use connect::{Backend, Store};
pub use employees::EmployeeFilter;

/// Rows per multi-row INSERT. Measured with `cargo bench -p keyward-store --bench sync_write`
/// (30,000 rows in one transaction): on PostgreSQL 50 rows per statement took 0.3–0.4 s, while
/// 100, 200 and 500 took 2.5 to 6.9 s depending on the data — the cost per statement grows much
/// faster than its parameter count there (`plan_cache_mode=force_custom_plan` does not change it).
/// SQLite hardly cares (0.13 to 0.18 s).
pub(crate) const INSERT_BATCH: usize = 50;
/// Ids per `IN (…)` list when reading rows by many ids.
pub(crate) const ID_LIST_CHUNK: usize = 500;
pub use error::{Error, Result};
pub use invitations::{Invitation, InvitationChange, NewInvitation};
pub use keys::{
    AttemptReservation, BindingChange, CodeChange, HolderChange, KeyChange, KeyState, StoredCode,
};
pub use outbox::{KeyNotice, NewMessage, OutboxMessage};
pub use overview::{LiveClaims, Overview};
pub use passwords::{AccountPassword, PasswordWrite};
pub use schema::{SchemaState, SchemaStatus};
pub use sealed::{Reseal, SealedPasswordPage, SealedSlot, SealedValue};
pub use server_instances::ServerInstance;
pub use sync::{
    AccountIndexAfter, AccountIndexEntry, LeaseHold, SyncBatchState, SyncCursor, SyncRunRecord,
    SyncWrite,
};
pub use tokens::{NewApiToken, StoredToken};
pub use workstations::NewWorkstation;
