//! The password state of one domain account that lives on a key (docs/product.md §3): the
//! committed version with its sealed value, and at most one rotation in flight.
//!
//! Sealed values are opaque text here: this crate never sees a password.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use keyward_model::DomainController;

use crate::Error;

/// Where a rotation is (docs/product.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RotationState {
    /// Nothing in flight.
    Idle,
    /// The sealed candidate waits for the key to acknowledge it.
    AwaitingKey,
    /// The key holds the candidate; the directory has not taken it yet.
    AwaitingDirectory,
    /// The directory refused the candidate; the key must go back to the committed version.
    RollingBack,
}

impl RotationState {
    /// Every state.
    pub const ALL: [Self; 4] = [
        Self::Idle,
        Self::AwaitingKey,
        Self::AwaitingDirectory,
        Self::RollingBack,
    ];

    /// The stable database and API encoding.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::AwaitingKey => "awaiting_key",
            Self::AwaitingDirectory => "awaiting_directory",
            Self::RollingBack => "rolling_back",
        }
    }
}

impl FromStr for RotationState {
    type Err = Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "idle" => Ok(Self::Idle),
            "awaiting_key" => Ok(Self::AwaitingKey),
            "awaiting_directory" => Ok(Self::AwaitingDirectory),
            "rolling_back" => Ok(Self::RollingBack),
            other => Err(Error::InvalidEncoding {
                what: "rotation state",
                value: other.to_owned(),
            }),
        }
    }
}

impl fmt::Display for RotationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the directory receives a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// An administrator's reset of `unicodePwd`.
    Reset,
    /// A user change with the old password, so the directory applies its whole policy.
    Change,
}

impl Method {
    /// Every method.
    pub const ALL: [Self; 2] = [Self::Reset, Self::Change];

    /// The stable database and audit encoding.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::Change => "change",
        }
    }
}

impl FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "reset" => Ok(Self::Reset),
            "change" => Ok(Self::Change),
            other => Err(Error::InvalidEncoding {
                what: "rotation method",
                value: other.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rotation in flight of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRotation {
    /// The candidate's version (the committed one plus one).
    pub version: i64,
    /// The candidate, sealed.
    pub sealed: String,
    /// How the directory receives it.
    pub method: Method,
    /// What started it (`key_activation`, `max_age`, `admin_generate`, …).
    pub reason: String,
    /// Who started it.
    pub requested_by: String,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// When the key acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The domain controller the directory step first tried a write on (stored before the
    /// write leaves the process): every further step of this rotation goes there, see
    /// [`route`](crate::route). `None` until the first attempt reaches a controller.
    pub controller: Option<DomainController>,
}

/// Where the committed password was written, and the version of `unicodePwd` that controller
/// gave it (from its replication metadata, read right after the write). A later rotation
/// writes on another controller only once that one holds at least this version: Active
/// Directory settles two unreplicated changes of one attribute by version first, so a write on
/// a controller that is behind could be undone by replication (see [`crate::behind_last_commit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastCommit {
    /// The controller that took the committed password.
    pub controller: DomainController,
    /// Its `unicodePwd` version right after the write.
    pub password_version: u32,
}

/// The password state of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordState {
    /// The key that holds the account.
    pub key_serial: Option<String>,
    /// The committed version (0: the domain password keyward never knew).
    pub version: i64,
    /// The committed value, sealed; `None` when keyward does not know it.
    pub sealed_current: Option<String>,
    /// When the committed version was committed.
    pub committed_at: Option<DateTime<Utc>>,
    /// Where the rotation in flight is.
    pub state: RotationState,
    /// The rotation in flight (present exactly when `state` is not `Idle`).
    pub pending: Option<PendingRotation>,
    /// Directory attempts of the rotation in flight.
    pub attempts: u32,
    /// When the next directory attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// A worker holds the directory step until this instant.
    pub claimed_until: Option<DateTime<Utc>>,
    /// The last failure, in one line.
    pub last_error: Option<String>,
    /// Where the last rotation keyward committed was written, when that controller told its
    /// `unicodePwd` version (kept until a later commit tells another one).
    pub last_commit: Option<LastCommit>,
}

impl PasswordState {
    /// The state of an account keyward has never rotated.
    pub fn new(key_serial: Option<String>) -> Self {
        Self {
            key_serial,
            version: 0,
            sealed_current: None,
            committed_at: None,
            state: RotationState::Idle,
            pending: None,
            attempts: 0,
            next_attempt_at: None,
            claimed_until: None,
            last_error: None,
            last_commit: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip_and_refuse_unknown_text() {
        for state in RotationState::ALL {
            assert_eq!(state.as_str().parse::<RotationState>(), Ok(state));
            assert_eq!(state.to_string(), state.as_str());
        }
        for method in Method::ALL {
            assert_eq!(method.as_str().parse::<Method>(), Ok(method));
            assert_eq!(method.to_string(), method.as_str());
        }
        for bad in ["", "Idle", "awaiting", "pending"] {
            assert!(bad.parse::<RotationState>().is_err(), "{bad:?}");
        }
        for bad in ["", "Reset", "set", "reset "] {
            let err = bad.parse::<Method>().unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid rotation method {bad:?}"),
                "{bad:?}"
            );
        }
    }
}
