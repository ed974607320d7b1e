//! `/api/v1/keys`: the hardware-key lifecycle.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::REDACTED;

/// The owner of a key, in brief.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyOwnerDto {
    /// Employee id.
    pub id: Uuid,
    /// Normalized e-mail.
    pub email: Option<String>,
    /// Display name.
    pub display_name: String,
}

/// A hardware key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyDto {
    /// Serial number (upper-cased).
    pub serial: String,
    /// `ready`, `reserved`, `active`, `locked`, `suspended`, `deactivated` or `compromised`.
    pub status: String,
    /// The owner, in Reserved, Active, Locked and Suspended.
    pub employee: Option<KeyOwnerDto>,
    /// The reason of the last status change, if any.
    pub reason: Option<String>,
    /// The suspension description, if suspended with one.
    pub description: Option<String>,
    /// A wipe is queued for the key's agent.
    pub wipe_pending: bool,
    /// The workstation that holds the key (it proved possession since the last status change):
    /// the only one that gets the key's commands and passwords.
    pub holder_workstation: Option<String>,
    /// Import time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<keyward_service::KeyView> for KeyDto {
    fn from(v: keyward_service::KeyView) -> Self {
        Self {
            serial: v.key.serial.to_string(),
            status: v.key.status.as_str().to_owned(),
            employee: v.owner.map(|e| KeyOwnerDto {
                id: e.id.as_uuid(),
                email: e.email.map(|m| m.as_str().to_owned()),
                display_name: e.display_name.as_str().to_owned(),
            }),
            reason: v.key.reason.map(|r| r.as_str().to_owned()),
            description: v.key.description,
            wipe_pending: v.key.wipe_pending,
            holder_workstation: v.key.linked_workstation,
            created_at: v.key.created_at,
            updated_at: v.key.updated_at,
        }
    }
}

/// A key and the activation code just issued for it (shown only in this response).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct KeyWithCodeDto {
    /// The key.
    #[serde(flatten)]
    pub key: KeyDto,
    /// The activation code; it is not stored and cannot be shown again.
    pub activation_code: String,
}

impl From<keyward_service::WithCode> for KeyWithCodeDto {
    fn from(w: keyward_service::WithCode) -> Self {
        Self {
            activation_code: w.activation_code.expose().to_owned(),
            key: w.key.into(),
        }
    }
}

/// Keys to import into stock.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportKeysRequest {
    /// Serial numbers, each once; all are imported or none.
    #[schema(min_items = 1, max_items = 10000)]
    pub serials: Vec<String>,
}

/// Whom to give a key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignKeyRequest {
    /// Employee id or e-mail address.
    #[schema(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s.\x00-\x1f\x7f-\x9f][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s.\x00-\x1f\x7f-\x9f]+)$",
        max_length = 254
    )]
    pub employee: String,
}

/// An activation code typed by the key's owner.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivationCodeRequest {
    /// The code (spaces and dashes are ignored).
    pub code: String,
}

impl std::fmt::Debug for KeyWithCodeDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyWithCodeDto")
            .field("key", &self.key)
            .field("activation_code", &REDACTED)
            .finish()
    }
}

impl std::fmt::Debug for ActivationCodeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivationCodeRequest")
            .field("code", &REDACTED)
            .finish()
    }
}

/// A reason for a status change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// `withdrawal`, `broken`, `lost`, `stolen`, `locked_by_invalid_pin` or `admin`, as the
    /// operation allows.
    pub reason: String,
}

/// Why a key is suspended.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendKeyRequest {
    /// Free text for people, up to 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: String,
}

/// Key list filter.
#[derive(Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyListParams {
    /// Only keys in this status.
    pub status: Option<String>,
    /// The `next_cursor` of the previous page (the last serial it held).
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

/// One page of keys, by serial.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyPage {
    /// The keys, each with its owner.
    pub items: Vec<KeyDto>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod debug_redaction {
    use super::ActivationCodeRequest;

    #[test]
    fn debug_never_shows_an_activation_code() {
        let printed = format!(
            "{:?}",
            ActivationCodeRequest {
                code: "48151623".into()
            }
        );
        assert!(
            !printed.contains("48151623") && printed.contains("[redacted]"),
            "{printed}"
        );
    }
}
