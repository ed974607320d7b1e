//! Console administrators: people who sign in to the web console with a passkey or a FIDO2
//! security key. Their credentials' public keys are kept by the service layer; nothing here is
//! secret.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Email;

/// A console administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admin {
    /// Stable id; also the WebAuthn user handle.
    pub id: uuid::Uuid,
    /// Unique; what the admin types to sign in and what audit records name (`admin:<email>`).
    pub email: Email,
    /// Shown in the console.
    pub name: String,
    /// When the admin was created.
    pub created_at: DateTime<Utc>,
    /// When the admin was disabled; a disabled admin cannot sign in or enroll, and has no
    /// session.
    pub disabled_at: Option<DateTime<Utc>>,
}

impl Admin {
    /// Whether the admin may sign in.
    pub fn is_active(&self) -> bool {
        self.disabled_at.is_none()
    }
}

/// One registered passkey or security key of an admin, without its public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminCredential {
    /// The WebAuthn credential id, URL-safe base64 without padding.
    pub credential_id: String,
    /// The admin it belongs to.
    pub admin_id: uuid::Uuid,
    /// A name the admin gave it at enrollment, e.g. `YubiKey 5`.
    pub label: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last signed in.
    pub last_used_at: Option<DateTime<Utc>>,
}
