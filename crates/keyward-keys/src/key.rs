//! A key as stored: serial, status, owner and the facts its guards need.

use chrono::{DateTime, Utc};
use keyward_model::EmployeeId;
use serde::{Deserialize, Serialize};

use crate::{KeyFacts, KeySerial, KeyStatus, Reason};

/// A hardware key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// Serial number (upper-cased).
    pub serial: KeySerial,
    /// Where it is in its life.
    pub status: KeyStatus,
    /// The owner; present exactly in Reserved, Active, Locked and Suspended.
    pub employee_id: Option<EmployeeId>,
    /// The reason recorded with the last status change, if any.
    pub reason: Option<Reason>,
    /// The administrator's description of a suspension.
    pub description: Option<String>,
    /// The workstation that holds the key: it proved possession (the activation code typed on
    /// it, or the key proof read from the key) since the key's last status change. See
    /// [`crate::holder_rule`].
    pub linked_workstation: Option<String>,
    /// A wipe is queued for the agent.
    pub wipe_pending: bool,
    /// Incremented by every change; a change made from an older version is refused.
    pub version: i64,
    /// When the key was imported.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Key {
    /// The facts the transition guards need.
    pub fn facts(&self) -> KeyFacts {
        KeyFacts {
            linked_to_workstation: self.linked_workstation.is_some(),
        }
    }
}
