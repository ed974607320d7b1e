//! `/healthz` and `/readyz`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Health and readiness answers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthDto {
    /// `ok`, or `unavailable` when not ready.
    pub status: String,
    /// Why not ready: the database, or a background worker (sync scheduler, mailer, rotation
    /// worker) that has stopped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}
