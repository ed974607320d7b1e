//! Request and response bodies of the REST API.

use axum::extract::{FromRequest, FromRequestParts};
use chrono::{DateTime, Utc};
use keyward_model::{DirectoryAccount, Employee};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;

/// `axum::Json` whose rejections are [`ApiError`]s (JSON bodies, stable codes).
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct ApiJson<T>(pub T);

/// `axum::extract::Query` whose rejections are [`ApiError`]s.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct ApiQuery<T>(pub T);

/// `axum::extract::Path` whose rejections are [`ApiError`]s.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct ApiPath<T>(pub T);

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

/// An employee.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmployeeDto {
    /// Stable id.
    pub id: Uuid,
    /// Normalized e-mail address; absent for a directory account without mail.
    pub email: Option<String>,
    /// Display name.
    pub display_name: String,
    /// `active` or `disabled`.
    pub status: String,
    /// `manual` or `directory`.
    pub origin: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<Employee> for EmployeeDto {
    fn from(e: Employee) -> Self {
        Self {
            id: e.id.as_uuid(),
            email: e.email.map(|m| m.as_str().to_owned()),
            display_name: e.display_name.as_str().to_owned(),
            status: e.status.as_str().to_owned(),
            origin: e.origin.as_str().to_owned(),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// A directory account of an employee.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountDto {
    /// Directory name.
    pub directory: String,
    /// AD objectGUID.
    pub object_guid: Uuid,
    /// Distinguished name at the last sync.
    pub dn: String,
    /// sAMAccountName.
    pub sam_account_name: Option<String>,
    /// userPrincipalName.
    pub user_principal_name: Option<String>,
    /// Whether the AD account is enabled.
    pub enabled: bool,
    /// Member (transitively) of the directory's password rotation group.
    pub in_rotation_group: bool,
    /// Since when the account is out of scope, if it is.
    pub missing_since: Option<DateTime<Utc>>,
}

impl From<DirectoryAccount> for AccountDto {
    fn from(a: DirectoryAccount) -> Self {
        Self {
            directory: a.directory.as_str().to_owned(),
            object_guid: a.object_guid,
            dn: a.dn,
            sam_account_name: a.sam_account_name,
            user_principal_name: a.user_principal_name,
            enabled: a.enabled,
            in_rotation_group: a.in_rotation_group,
            missing_since: a.missing_since,
        }
    }
}

/// An employee with its directory accounts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmployeeDetailDto {
    /// The employee.
    #[serde(flatten)]
    pub employee: EmployeeDto,
    /// Its directory accounts.
    pub accounts: Vec<AccountDto>,
}

/// One page of employees.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmployeePage {
    /// The employees, in creation order.
    pub items: Vec<EmployeeDto>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Paging parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

/// A person to create by hand (someone in no directory).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEmployeeRequest {
    /// E-mail address; unique among employees.
    pub email: String,
    /// Display name.
    pub display_name: String,
}

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
    /// Serial numbers; all are imported or none.
    pub serials: Vec<String>,
}

/// Whom to give a key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignKeyRequest {
    /// Employee id or e-mail address.
    pub employee: String,
}

/// An activation code typed by the key's owner.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivationCodeRequest {
    /// The code (spaces and dashes are ignored).
    pub code: String,
}

/// What `Debug` prints in place of a secret.
pub(crate) const REDACTED: &str = "[redacted]";

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
    pub description: String,
}

/// Key list filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyListParams {
    /// Only keys in this status.
    pub status: Option<String>,
}

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
