//! `/api/v1/admins`: the console's administrators and their enrollment links.

use chrono::{DateTime, Utc};
use keyward_model::{Admin, AdminCredential};
use keyward_service::AdminView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::REDACTED;

/// A console administrator.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminDto {
    /// Id.
    pub id: uuid::Uuid,
    /// The e-mail they sign in with.
    pub email: String,
    /// Their name.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When they were disabled.
    pub disabled_at: Option<DateTime<Utc>>,
}

impl From<&Admin> for AdminDto {
    fn from(a: &Admin) -> Self {
        Self {
            id: a.id,
            email: a.email.as_str().to_owned(),
            name: a.name.clone(),
            created_at: a.created_at,
            disabled_at: a.disabled_at,
        }
    }
}

/// A passkey or security key an administrator registered (never its public key).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminCredentialDto {
    /// The WebAuthn credential id (base64url).
    pub credential_id: String,
    /// The administrator.
    pub admin_id: uuid::Uuid,
    /// Its label.
    pub label: String,
    /// Registration time.
    pub created_at: DateTime<Utc>,
    /// Its last sign-in.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&AdminCredential> for AdminCredentialDto {
    fn from(c: &AdminCredential) -> Self {
        Self {
            credential_id: c.credential_id.clone(),
            admin_id: c.admin_id,
            label: c.label.clone(),
            created_at: c.created_at,
            last_used_at: c.last_used_at,
        }
    }
}

/// An administrator with their credentials.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminDetailDto {
    /// The administrator.
    #[serde(flatten)]
    pub admin: AdminDto,
    /// Their registered passkeys and security keys.
    pub credentials: Vec<AdminCredentialDto>,
}

impl From<&AdminView> for AdminDetailDto {
    fn from(v: &AdminView) -> Self {
        Self {
            admin: (&v.admin).into(),
            credentials: v.credentials.iter().map(AdminCredentialDto::from).collect(),
        }
    }
}

/// An administrator to create.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAdminRequest {
    /// Their e-mail: what they type to sign in, and what audit records name.
    #[schema(
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s.\x00-\x1f\x7f-\x9f][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s.\x00-\x1f\x7f-\x9f]+$",
        max_length = 254
    )]
    pub email: String,
    /// Their name, shown in the console.
    #[schema(
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        max_length = 200
    )]
    pub name: String,
}

/// A one-time enrollment link: shown in this answer only.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct EnrollmentLinkDto {
    /// The administrator's e-mail.
    pub email: String,
    /// The administrator, when just created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminDto>,
    /// Open it in a browser to register a passkey or security key; it works once.
    pub enrollment_link: String,
    /// How long the link works.
    pub expires_in_hours: u32,
}

impl std::fmt::Debug for EnrollmentLinkDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollmentLinkDto")
            .field("email", &self.email)
            .field("admin", &self.admin)
            .field("enrollment_link", &REDACTED)
            .field("expires_in_hours", &self.expires_in_hours)
            .finish()
    }
}
