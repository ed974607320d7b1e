//! Key statuses and reasons, with their stored encodings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// In stock, no owner.
    Ready,
    /// Assigned to an employee, waiting for activation with a code.
    Reserved,
    /// In use by its owner.
    Active,
    /// Blocked (wrong PIN, too many wrong codes); an administrator unlocks it.
    Locked,
    /// Suspended by an administrator; resumes with a new activation code.
    Suspended,
    /// Taken from its owner; a wipe is queued, then it returns to stock.
    Deactivated,
    /// Lost or stolen: terminal.
    Compromised,
}

impl KeyStatus {
    /// Every status, in table order.
    pub const ALL: [Self; 7] = [
        Self::Ready,
        Self::Reserved,
        Self::Active,
        Self::Locked,
        Self::Suspended,
        Self::Deactivated,
        Self::Compromised,
    ];

    /// The stable database and API encoding.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Reserved => "reserved",
            Self::Active => "active",
            Self::Locked => "locked",
            Self::Suspended => "suspended",
            Self::Deactivated => "deactivated",
            Self::Compromised => "compromised",
        }
    }

    /// True for the statuses in which the key has an owner.
    pub const fn has_owner(self) -> bool {
        match self {
            Self::Reserved | Self::Active | Self::Locked | Self::Suspended => true,
            Self::Ready | Self::Deactivated | Self::Compromised => false,
        }
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyStatus {
    type Err = Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown key status {s:?} (known: ready, reserved, active, locked, suspended, deactivated, compromised)"
                ))
            })
    }
}

/// Why a key changed status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The employee gave the key back or left.
    Withdrawal,
    /// The key is broken.
    Broken,
    /// The key was lost.
    Lost,
    /// The key was stolen.
    Stolen,
    /// Too many wrong activation codes.
    InvalidActivationCode,
    /// The agent reported too many wrong PINs.
    LockedByInvalidPin,
    /// An administrator decided.
    Admin,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Self; 7] = [
        Self::Withdrawal,
        Self::Broken,
        Self::Lost,
        Self::Stolen,
        Self::InvalidActivationCode,
        Self::LockedByInvalidPin,
        Self::Admin,
    ];

    /// The stable database and API encoding.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Withdrawal => "withdrawal",
            Self::Broken => "broken",
            Self::Lost => "lost",
            Self::Stolen => "stolen",
            Self::InvalidActivationCode => "invalid_activation_code",
            Self::LockedByInvalidPin => "locked_by_invalid_pin",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == wanted)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown reason {s:?} (known: withdrawal, broken, lost, stolen, invalid_activation_code, locked_by_invalid_pin, admin)"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip() {
        for s in KeyStatus::ALL {
            assert_eq!(s.as_str().parse::<KeyStatus>().unwrap(), s);
        }
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>().unwrap(), r);
        }
        assert_eq!(
            "Locked-By-Invalid-Pin".parse::<Reason>().unwrap(),
            Reason::LockedByInvalidPin
        );
        assert!("gone".parse::<KeyStatus>().is_err());
    }
}
