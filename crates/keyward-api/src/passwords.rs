//! `/api/v1/passwords`: rotations and the password state of accounts (never a password).

use chrono::{DateTime, Utc};
use keyward_service::{AdvanceReport, PasswordStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::REDACTED;

/// One account's password state (never a password).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasswordStatusDto {
    /// The employee who owns the account.
    pub employee_id: Uuid,
    /// The directory of the account.
    pub directory: String,
    /// The account's objectGUID.
    pub object_guid: Uuid,
    /// Its sAMAccountName.
    pub sam_account_name: Option<String>,
    /// The key that holds the password.
    pub key_serial: Option<String>,
    /// The committed version.
    pub version: i64,
    /// Where the rotation is.
    pub state: String,
    /// What it waits for.
    pub waiting_for: Option<String>,
    /// The version being rotated to.
    pub pending_version: Option<i64>,
    /// Why the rotation started.
    pub reason: Option<String>,
    /// Since when it waits.
    pub waiting_since: Option<DateTime<Utc>>,
    /// It waits longer than allowed.
    pub overdue: bool,
    /// The last commit.
    pub last_commit: Option<DateTime<Utc>>,
    /// Directory attempts of the current step.
    pub attempts: u32,
    /// When the next directory attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last directory error.
    pub last_error: Option<String>,
}

impl From<PasswordStatus> for PasswordStatusDto {
    fn from(s: PasswordStatus) -> Self {
        Self {
            employee_id: s.employee_id.as_uuid(),
            directory: s.directory,
            object_guid: s.object_guid,
            sam_account_name: s.sam_account_name,
            key_serial: s.key_serial,
            version: s.version,
            state: s.state,
            waiting_for: s.waiting_for,
            pending_version: s.pending_version,
            reason: s.reason,
            waiting_since: s.waiting_since,
            overdue: s.overdue,
            last_commit: s.last_commit,
            attempts: s.attempts,
            next_attempt_at: s.next_attempt_at,
            last_error: s.last_error,
        }
    }
}

/// Filter of the password status.
#[derive(Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PasswordStatusParams {
    /// Only this employee (id or e-mail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee: Option<String>,
}

/// Starts rotations for an employee.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// The employee (id or e-mail).
    #[schema(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s.\x00-\x1f\x7f-\x9f][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s.\x00-\x1f\x7f-\x9f]+)$",
        max_length = 254
    )]
    pub employee: String,
    /// Only the account in this directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
}

/// Sets one account's password: the one given, or one generated from the directory's policy
/// when none is given. It goes to the key first, then to the directory.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordRequest {
    /// The employee (id or e-mail).
    #[schema(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s.\x00-\x1f\x7f-\x9f][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s.\x00-\x1f\x7f-\x9f]+)$",
        max_length = 254
    )]
    pub employee: String,
    /// The directory of the account.
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,64}$")]
    pub directory: String,
    /// The password to set (checked against the directory's policy); absent: generate one. It
    /// is never logged or echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl std::fmt::Debug for SetPasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetPasswordRequest")
            .field("employee", &self.employee)
            .field("directory", &self.directory)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// What one pass over the due directory steps did.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct AdvanceReportDto {
    /// Rotations committed.
    pub committed: usize,
    /// Candidates the directory refused.
    pub refused: usize,
    /// Steps that failed and will be retried.
    pub retried: usize,
}

impl From<AdvanceReport> for AdvanceReportDto {
    fn from(r: AdvanceReport) -> Self {
        Self {
            committed: r.committed,
            refused: r.refused,
            retried: r.retried,
        }
    }
}
