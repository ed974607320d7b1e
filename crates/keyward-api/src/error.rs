//! The body of every error answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A stable code and a one-line message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `conflict`, `unauthorized` (401; the
    /// message names the credential wanted, never the one presented), `invalid_input`,
    /// `invalid_transition` (409: the key's status), `lease_busy` (409: a sync of the directory
    /// is running), `workstation_state` (409: the workstation's status), `invitation_state`
    /// (409: the invitation was used or its link expired).
    pub code: String,
    /// What went wrong and what to do, in one line.
    pub message: String,
}
