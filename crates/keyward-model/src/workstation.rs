//! Workstations that run the agent, and the statuses an administrator moves them through.
//!
//! A workstation registers itself (`pending`); an administrator approves it (`approved`) or
//! revokes it (`revoked`, for good). Only an approved workstation may use the agent API beyond
//! asking its own status (docs/agent-api.md). Its credential is never part of the model.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Error;

/// Hex digits of a credential fingerprint: the start of the stored SHA-256 of the credential.
pub const FINGERPRINT_LEN: usize = 8;

/// Where a workstation is in its approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkstationStatus {
    /// Registered; waits for an administrator's approval.
    Pending,
    /// Approved: may use the agent API.
    Approved,
    /// Revoked for good; it must register again.
    Revoked,
}

impl WorkstationStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 3] = [Self::Pending, Self::Approved, Self::Revoked];

    /// The stable database and API encoding.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Revoked => "revoked",
        }
    }

    /// The statuses from which a workstation may become `to`: an administrator approves a
    /// pending workstation and revokes a pending or approved one; nothing becomes pending again
    /// and a revoked workstation stays revoked.
    pub const fn sources(to: Self) -> &'static [Self] {
        match to {
            Self::Pending => &[],
            Self::Approved => &[Self::Pending],
            Self::Revoked => &[Self::Pending, Self::Approved],
        }
    }

    /// Whether a workstation in `self` may become `to`.
    pub fn can_become(self, to: Self) -> bool {
        Self::sources(to).contains(&self)
    }
}

impl FromStr for WorkstationStatus {
    type Err = Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "pending" => Ok(Self::Pending),
            "approved" => Ok(Self::Approved),
            "revoked" => Ok(Self::Revoked),
            other => Err(Error::InvalidEncoding {
                what: "workstation status",
                value: other.to_owned(),
            }),
        }
    }
}

impl fmt::Display for WorkstationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A workstation as stored (never its credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workstation {
    /// Id.
    pub id: Uuid,
    /// The name it registered with (not unique).
    pub name: String,
    /// Where it is in its approval.
    pub status: WorkstationStatus,
    /// When it registered.
    pub created_at: DateTime<Utc>,
    /// When an administrator approved it.
    pub approved_at: Option<DateTime<Utc>>,
    /// When an administrator revoked it.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it last called the agent API.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// The client address it registered from; `None` for workstations registered before
    /// addresses were recorded.
    pub source_address: Option<String>,
    /// The first [`FINGERPRINT_LEN`] hex digits of the stored SHA-256 of its credential: what
    /// the agent prints at registration, so that two workstations of the same name can be told
    /// apart. Revealing 32 bits of the hash of a 256-bit random credential weakens nothing.
    pub credential_fingerprint: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_round_trips_and_refuses_unknown_text() {
        for status in WorkstationStatus::ALL {
            assert_eq!(status.as_str().parse::<WorkstationStatus>(), Ok(status));
            assert_eq!(status.to_string(), status.as_str());
        }
        for bad in ["", "Approved", "deleted", " pending"] {
            assert!(bad.parse::<WorkstationStatus>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn approval_and_revocation_are_the_only_moves() {
        use WorkstationStatus::{Approved, Pending, Revoked};
        let allowed = [(Pending, Approved), (Pending, Revoked), (Approved, Revoked)];
        for from in WorkstationStatus::ALL {
            for to in WorkstationStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }
}
