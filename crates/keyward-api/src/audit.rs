//! The audit log: `/api/v1/audit` and a key's history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One audit record.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditRecordDto {
    /// Position in the log.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: `cli`, `token:<name>`, `system`.
    pub actor: String,
    /// What, e.g. `key.assign`.
    pub action: String,
    /// About what, e.g. `key:ST10123`.
    pub subject: String,
    /// Details (never a secret).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<keyward_model::AuditRecord> for AuditRecordDto {
    fn from(r: keyward_model::AuditRecord) -> Self {
        Self {
            seq: r.seq,
            at: r.record.at,
            actor: r.record.actor,
            action: r.record.action,
            subject: r.record.subject,
            detail: r.record.detail,
        }
    }
}

impl From<AuditRecordDto> for keyward_model::AuditRecord {
    fn from(r: AuditRecordDto) -> Self {
        Self {
            seq: r.seq,
            record: keyward_model::NewAuditRecord {
                actor: r.actor,
                action: r.action,
                subject: r.subject,
                detail: r.detail,
                at: r.at,
            },
        }
    }
}

/// Which audit records, newest first: every filter given must match.
#[derive(Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditListParams {
    /// Exactly this actor: `cli`, `system`, `token:NAME`, `admin:EMAIL`, `workstation:ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Exactly this subject, e.g. `key:SN-1`, `employee:ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Actions starting with this, e.g. `key.` or `key.assign`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// At or after this RFC 3339 time, e.g. `2026-12-03T09:30:00Z`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Before this RFC 3339 time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Only records older than this one (the `next_before` of the previous page).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// How many records, 1 to 10000 (default 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u64>,
}

/// One page of audit records, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// The records.
    pub items: Vec<AuditRecordDto>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}
