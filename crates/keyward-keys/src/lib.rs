//! keyward's hardware-key lifecycle, as pure rules.
//!
//! Place in the layers: a pure crate above `keyward-model`. No IO, no async, no clock and no
//! global randomness: the current time and a random source are parameters. `keyward-service`
//! stores keys, carries out the [`Effect`]s a transition returns, and writes the audit record.
//!
//! The one transition function is [`transition`]: an exhaustive `match` over (status, event)
//! without a wildcard arm, implementing the table of docs/product.md §2. Every pair the table does
//! not allow is an [`Error::InvalidTransition`] naming both.
//!
//! [`parse_serial_list`] reads the list of serials a key import takes (a CSV table with a
//! `serial` column, or one serial per line), all or nothing, with the line of each problem.
//!
//! Invariants (property-tested):
//! - an owner exists exactly while the status is Reserved, Active, Locked or Suspended;
//! - Compromised is terminal (only deletion follows it);
//! - a deleted key takes no event (only a new import of the serial).
//!
//! ```
//! use keyward_keys::{transition, Event, Effect, KeyStatus, KeyFacts};
//! use keyward_model::EmployeeId;
//!
//! let owner = EmployeeId::new_v7();
//! let t = transition(Some(KeyStatus::Ready), &Event::Assign { employee: owner }, KeyFacts::default()).unwrap();
//! assert_eq!(t.to, Some(KeyStatus::Reserved));
//! assert!(t.effects.contains(&Effect::IssueActivationCode));
//! assert!(transition(Some(KeyStatus::Ready), &Event::Activate, KeyFacts::default()).is_err());
//! ```

mod code;
mod error;
mod holder;
mod key;
mod lifecycle;
mod serial;
mod serial_list;
mod status;

pub use code::{
    ActivationCode, ActivationCodePolicy, CodeCheck, CodeHash, CodePepper, DEFAULT_CODE_ITERATIONS,
    IssuedCode,
};
pub use error::{Error, Result};
pub use holder::{HolderRule, holder_rule};
pub use key::Key;
pub use lifecycle::{Effect, Event, EventKind, KeyFacts, Transition, admin_operations, transition};
pub use serial::KeySerial;
pub use serial_list::{SerialListError, parse_serial_list};
pub use status::{KeyStatus, Reason};
