//! `/api/v1/workstations`: the workstations that run the agent (never their credentials).

use chrono::{DateTime, Utc};
use keyward_service::Workstation;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A workstation (never its credential).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkstationDto {
    /// Id.
    pub id: Uuid,
    /// The name it registered with.
    pub name: String,
    /// `pending`, `approved` or `revoked`.
    pub status: String,
    /// Registration time.
    pub created_at: DateTime<Utc>,
    /// Approval time.
    pub approved_at: Option<DateTime<Utc>>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Its last request.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// The client address it registered from (absent for workstations registered before
    /// addresses were recorded).
    pub source_address: Option<String>,
    /// The first 8 hex digits of the SHA-256 of its credential; the agent printed the same at
    /// registration.
    pub credential_fingerprint: String,
}

/// One page of workstations.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkstationPage {
    /// The workstations, in registration order.
    pub items: Vec<WorkstationDto>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl From<Workstation> for WorkstationDto {
    fn from(w: Workstation) -> Self {
        Self {
            id: w.id,
            name: w.name,
            status: w.status.as_str().to_owned(),
            created_at: w.created_at,
            approved_at: w.approved_at,
            revoked_at: w.revoked_at,
            last_seen_at: w.last_seen_at,
            source_address: w.source_address,
            credential_fingerprint: w.credential_fingerprint,
        }
    }
}
