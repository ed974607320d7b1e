//! keyward's shared vocabulary.
//!
//! Every other keyward crate speaks in these types: ids, normalized e-mail addresses, directory
//! names, employees, directory accounts, API tokens, console admins, workstations, audit records and pages of
//! results; and the one retry [`Backoff`] that every kind of retried work uses.
//!
//! Place in the layers: the bottom. This crate depends on no other keyward crate and does no IO:
//! no files, no network, no clock (timestamps are fields, filled in by the caller), no randomness
//! except the documented id constructors.
//!
//! Invariants:
//! - an [`Email`] is always normalized (trimmed, lower-cased) and syntactically plausible, so two
//!   `Email`s are equal exactly when keyward treats them as the same person;
//! - every enum stored in a database has an explicit `as_str` / `FromStr` encoding, never `Debug`.
//!
//! ```
//! use keyward_model::Email;
//! let a: Email = " Ada.Lovelace@Example.COM ".parse().unwrap();
//! assert_eq!(a.as_str(), "ada.lovelace@example.com");
//! ```

mod account;
mod admin;
mod audit;
mod backoff;
mod controller;
mod directory_user;
mod email;
mod employee;
mod error;
mod ids;
mod page;
mod token;
mod workstation;

pub use account::DirectoryAccount;
pub use admin::{Admin, AdminCredential};
pub use audit::{AuditRecord, NewAuditRecord};
pub use backoff::Backoff;
pub use controller::DomainController;
pub use directory_user::DirectoryUser;
pub use email::Email;
pub use employee::{DisplayName, Employee, EmployeeOrigin, EmployeeStatus, NewEmployee};
pub use error::{Error, Result};
pub use ids::{ApiTokenId, DirectoryName, EmployeeId};
pub use page::{Cursor, Page, PageRequest};
pub use token::{ApiToken, Scope, Scopes, TokenName};
pub use workstation::{FINGERPRINT_LEN, Workstation, WorkstationStatus};
