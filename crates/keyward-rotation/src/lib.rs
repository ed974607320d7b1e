//! keyward's password rotation protocol (docs/product.md §3), as pure rules.
//!
//! Place in the layers: a pure crate above `keyward-model`, like `keyward-keys`. No IO, no
//! async, no clock and no randomness: the current time is a parameter, and sealed values are
//! opaque text (this crate never sees a password). `keyward-store` stores a [`PasswordState`]
//! per account and converts its rows into one (a row this crate cannot read is an error, never
//! a default); `keyward-service` reads a row, calls one of the rules here, and stores the result
//! version-checked with its audit record.
//!
//! The protocol: [`start`] seals a candidate as pending version n+1 (`awaiting_key`); the key's
//! acknowledgement makes it [`delivered`] (`awaiting_directory`); the directory either takes it
//! ([`committed`]: it is the current version), fails for now ([`retry`], with the exponential
//! [`Backoff`](keyward_model::Backoff)) or refuses it for good ([`refused`]: the key rolls back
//! to the committed value, [`rollback_target`] and [`rolled_back`]). A deactivated key
//! [`detached`] drops what the directory never saw; a compromised key's rotation is
//! [`replaced`]. The first domain controller the directory step tries a write on is
//! [`pinned`]: [`route`] sends every further step of that rotation there, until the commit, or
//! until its URL leaves the configuration and the pin is [`released`].
//!
//! Invariants:
//! - a version number is never reused: a roll-back takes the version above the refused one;
//! - a rotation is in flight (`pending` is `Some`) exactly when the state is not `Idle`;
//! - a candidate the key acknowledged is never dropped without the directory's answer, since
//!   the directory may hold it already;
//! - once a write was tried on a domain controller, only that controller answers for the
//!   rotation (another may not have replicated the write yet).
//!
//! ```
//! use chrono::Utc;
//! use keyward_rotation::{Candidate, Method, PasswordState, RotationState, committed, delivered, start};
//!
//! let now = Utc::now();
//! let idle = PasswordState::new(Some("HK-1".into()));
//! let candidate = Candidate {
//!     sealed: "sealed-v1".into(),
//!     method: Method::Reset,
//!     reason: "admin_generate",
//!     requested_by: "cli".into(),
//! };
//! let pending = start(&idle, Some("HK-1".into()), candidate, now);
//! assert_eq!(pending.state, RotationState::AwaitingKey);
//! let done = committed(&delivered(&pending, now), now, None).unwrap();
//! assert_eq!((done.version, done.state), (1, RotationState::Idle));
//! ```

mod error;
mod rules;
mod state;

pub use error::{Error, Result};
pub use rules::{
    Candidate, RollbackTarget, Route, behind_last_commit, changed_on_key, committed, delivered,
    detached, not_before_claim_ends, pinned, refused, released, replaced, retry, rollback_target,
    rolled_back, route, start,
};
pub use state::{LastCommit, Method, PasswordState, PendingRotation, RotationState};
