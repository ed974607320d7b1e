//! The one error type of this crate.

use crate::{EventKind, KeyStatus, Reason};

/// Why a lifecycle step or a code operation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The table of docs/product.md §2 has no row for this (status, event) pair.
    #[error("a key {} cannot take the event '{event}'", describe(*.from))]
    InvalidTransition {
        /// The key's status; `None` when no key with this serial exists.
        from: Option<KeyStatus>,
        /// The refused event.
        event: EventKind,
    },
    /// The event is allowed but its guard is not met.
    #[error("a key {} cannot take the event '{event}': {guard}", describe(Some(*.from)))]
    GuardFailed {
        /// The key's status.
        from: KeyStatus,
        /// The refused event.
        event: EventKind,
        /// What the guard requires.
        guard: &'static str,
    },
    /// The reason does not fit the event (e.g. compromise with reason Broken).
    #[error("reason '{reason}' does not fit the event '{event}' (allowed: {allowed})")]
    InvalidReason {
        /// The event.
        event: EventKind,
        /// The reason given.
        reason: Reason,
        /// The reasons that fit.
        allowed: &'static str,
    },
    /// A list of serials (a key import file) that cannot be imported.
    #[error(transparent)]
    SerialList(#[from] crate::SerialListError),
    /// A serial number, status or reason that is not valid.
    #[error("{0}")]
    InvalidInput(String),
    /// An activation-code policy that cannot be used.
    #[error("invalid activation-code policy: {0}")]
    InvalidPolicy(&'static str),
    /// The stored code was hashed with a pepper and none was given: the key-encryption key
    /// that derives it is not configured.
    #[error(
        "the activation code was stored peppered with the key-encryption key, which is not configured"
    )]
    PepperMissing,
    /// The random source failed.
    #[error("the system random number generator failed")]
    Random,
}

fn describe(from: Option<KeyStatus>) -> String {
    match from {
        Some(status) => format!("in status {status}"),
        None => "that does not exist".to_owned(),
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
