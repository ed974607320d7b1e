//! `/api/v1/invitations` and `/api/v1/mail`.

use chrono::{DateTime, Utc};
use keyward_service::{InvitationView, SendReport};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An invitation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvitationDto {
    /// Id.
    pub id: uuid::Uuid,
    /// The employee invited.
    pub employee_id: uuid::Uuid,
    /// `queued`, `sent`, `failed`, `cancelled` (its message was not sent: see `last_error`),
    /// `accepted`, `expired` or `revoked`.
    pub state: String,
    /// Where it goes.
    pub recipient: Option<String>,
    /// Delivery attempts.
    pub attempts: u32,
    /// The last delivery error, or why its message was cancelled.
    pub last_error: Option<String>,
    /// When the link expires.
    pub expires_at: DateTime<Utc>,
    /// When the employee accepted it.
    pub accepted_at: Option<DateTime<Utc>>,
}

impl From<InvitationView> for InvitationDto {
    fn from(v: InvitationView) -> Self {
        Self {
            id: v.invitation.id,
            employee_id: v.invitation.employee_id.as_uuid(),
            state: v.state.to_owned(),
            recipient: v.recipient,
            attempts: v.attempts,
            last_error: v.last_error,
            expires_at: v.invitation.expires_at,
            accepted_at: v.invitation.accepted_at,
        }
    }
}

/// What one pass over the due outgoing mail did.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct MailSendDto {
    /// Messages the SMTP server accepted.
    pub sent: u32,
    /// Messages that failed (retried later, or given up after the last attempt).
    pub failed: u32,
    /// Messages not sent because what they were for is gone (e.g. a revoked invitation).
    pub cancelled: u32,
}

impl From<SendReport> for MailSendDto {
    fn from(r: SendReport) -> Self {
        Self {
            sent: r.sent,
            failed: r.failed,
            cancelled: r.cancelled,
        }
    }
}
