//! `/api/v1/tokens`: admin API tokens (never their secrets, except once at creation).

use chrono::{DateTime, Utc};
use keyward_model::ApiToken;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::REDACTED;

/// An admin API token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenDto {
    /// Id.
    pub id: uuid::Uuid,
    /// Unique name.
    pub name: String,
    /// What it may do: `read`, `sync`, `keys`, `workstations`, `passwords`, `admin`.
    pub scopes: Vec<String>,
    /// When it stops working; absent: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Its last use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Whether it has expired (at the time of the answer).
    pub expired: bool,
}

impl TokenDto {
    /// The token as seen at `now`.
    pub fn new(t: &ApiToken, now: DateTime<Utc>) -> Self {
        Self {
            id: t.id.as_uuid(),
            name: t.name.as_str().to_owned(),
            scopes: t.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            expires_at: t.expires_at,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
            expired: t.is_expired(now),
        }
    }
}

/// A token to create.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// Unique name, e.g. `ci-pipeline` (never reused, even after a revoke).
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    /// What it may do, comma-separated: `read`, `sync`, `keys`, `workstations`, `passwords`,
    /// `admin` (everything).
    #[schema(
        pattern = r"^(read|sync|keys|workstations|passwords|admin)(,(read|sync|keys|workstations|passwords|admin))*$"
    )]
    pub scope: String,
    /// When it stops working: `30d` (at most 3653 days), `12h` (at most 87672 hours), an RFC
    /// 3339 time, or `never` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        pattern = r"^(never|([1-9][0-9]{0,2}|[12][0-9]{3}|3[0-5][0-9]{2}|36[0-4][0-9]|365[0-3])d|([1-9][0-9]{0,3}|[1-7][0-9]{4}|8[0-6][0-9]{3}|87[0-5][0-9]{2}|876[0-6][0-9]|8767[0-2])h|2[1-9][0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z)$"
    )]
    pub expires: Option<String>,
}

/// A token just created, with its secret: shown in this answer only.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedTokenDto {
    /// The token.
    #[serde(flatten)]
    pub details: TokenDto,
    /// The bearer secret; only its hash is stored, and it cannot be shown again.
    pub token: String,
}

impl std::fmt::Debug for CreatedTokenDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedTokenDto")
            .field("details", &self.details)
            .field("token", &REDACTED)
            .finish()
    }
}
