//! Audit records: the append-only history of who changed what.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An audit record to append. The store assigns its sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAuditRecord {
    /// Who acted: `cli`, `token:<name>`, `sync:<directory>`, `agent:<workstation>`.
    pub actor: String,
    /// What happened, a stable dotted code such as `employee.created`.
    pub action: String,
    /// What it happened to, such as `employee:<id>`.
    pub subject: String,
    /// Machine-readable detail; never a secret.
    pub detail: serde_json::Value,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// An audit record as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log; strictly increasing.
    pub seq: i64,
    /// The record.
    #[serde(flatten)]
    pub record: NewAuditRecord,
}
