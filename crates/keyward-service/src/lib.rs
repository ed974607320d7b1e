//! keyward's use cases: the operations the server and the CLI call.
//!
//! Place in the layers: above every other library crate. It composes `keyward-model`,
//! `keyward-password`, `keyward-keys`, `keyward-identity`, `keyward-directory` and
//! `keyward-store` into operations with audit records. The binaries call only this crate and the
//! vocabulary crates; they never name `sea_orm` or `ldap3`. The entry point is [`Keyward`].
//!
//! What it must never do: log, return or serialize a secret (token secrets are returned once, in
//! a [`SecretString`](keyward_password::SecretString), at creation), or write a change without its
//! audit record in the same transaction.
//!
//! ```no_run
//! # async fn demo() -> Result<(), keyward_service::Error> {
//! use keyward_service::{Actor, Keyward, OpenMode, Settings};
//! let settings = Settings { database_url: "sqlite::memory:".into(), ..Settings::default() };
//! // A new database gets the schema here; `Keyward::open` would refuse it.
//! let keyward = Keyward::open_with(&settings, OpenMode::CreateIfEmpty).await?;
//! let scopes = keyward_model::Scopes::parse_list("read,keys")?;
//! let (token, secret) = keyward.tokens().create("ci", &scopes, None, &Actor::Cli).await?;
//! let verified = keyward.tokens().verify(secret.expose()).await?;
//! assert_eq!(verified.id, token.id);
//! # Ok(()) }
//! ```

mod actor;
pub mod admins;
mod agent;
mod audit;
mod backup;
mod clock;
pub mod config;
mod config_check;
mod context;
mod directories;
mod directory_policy;
mod directory_test;
mod employees;
mod error;
mod instances;
mod kek_rotation;
mod kerberos;
mod keys;
mod keyward;
mod mail;
mod passwords;
pub(crate) mod secrets;
mod sync;
mod tokens;

pub use actor::Actor;
pub use admins::{AdminView, Admins, Challenge, ConsoleSession, SignedIn};
pub use agent::{
    AccountDelivery, AckItem, Activated, Agent, PendingWork, Registration, SeenKey, UserChange,
};
pub use audit::{AUDIT_CSV_HEADER, Audit, audit_csv, audit_csv_part, parse_audit_time};
pub use backup::BackupReport;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    AgentSettings, ConsoleSettings, HttpSettings, KeySettings, LogFormat, MailSettings, Overrides,
    PasswordSettings, SecretsSettings, Settings, SmtpSecurity, SyncSettings, TlsSettings,
};
pub use config_check::{ConfigCheck, ConnectionCheck, check_config, check_connections};
pub use directories::Directories;
pub use directory_test::{
    DirectoryTestReport, GroupReport, MemberReport, PoliciesReport, RIGHTS_SAMPLE,
    ServiceAccountReport,
};
pub use employees::Employees;
pub use error::{Credential, Error, ErrorCode, InvitationProblem, Result};
pub use instances::{SERVER_LEASE_RENEW_SECS, SERVER_LEASE_SECS, ServerLease};
pub use kek_rotation::{KekRotationProgress, KekRotationReport, SecretsReport};
pub use kerberos::{end_kerberos_environment, enter_kerberos_environment, kerberos_environment};
pub use keys::{KeyView, Keys, WithCode};
pub use keyward::{Keyward, MigrationReport, OpenMode, check_schema};
pub use keyward_directory::{DirectoryConfig, DirectoryPasswordPolicy, PolicyKind};
pub use keyward_model::{Workstation, WorkstationStatus};
pub use keyward_password::SecretString;
pub use keyward_store::{
    AuditFilter, BackupHeader, BackupProgress, EmployeeFilter, Overview, SchemaState, SchemaStatus,
    SyncRunRecord, TableRows,
};
pub use mail::{EnrollView, InvitationView, Mail, SendReport, check_mail_templates};
pub use passwords::{AdvanceReport, NewPassword, PasswordStatus, Passwords};
pub use secrets::write_new_key_file;
pub use sync::{
    ConflictReport, Outcome, Phases, Progress, RunMode, RunStatus, Skipped, SyncOptions,
    SyncProgress, SyncReport, SyncRuns,
};
pub use tokens::{Tokens, require_scope};
