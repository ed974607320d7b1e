//! `/api/v1/workstations` and `/api/v1/passwords`: what administrators do with workstations
//! and password rotations (the same as `keyward workstations …` and `keyward passwords …`).

use axum::Extension;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use keyward_service::{PasswordStatus, Workstation};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Authenticated;
use crate::dto::{ApiJson, ApiPath, ApiQuery, ErrorBody, PageParams};
use crate::error::ApiError;
use crate::state::AppState;

/// A workstation (never its credential).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkstationDto {
    id: Uuid,
    name: String,
    /// `pending`, `approved` or `revoked`.
    status: String,
    created_at: DateTime<Utc>,
    approved_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_seen_at: Option<DateTime<Utc>>,
    /// The client address it registered from (absent for workstations registered before
    /// addresses were recorded).
    source_address: Option<String>,
    /// The first 8 hex digits of the SHA-256 of its credential; the agent printed the same at
    /// registration.
    credential_fingerprint: String,
}

/// One page of workstations.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkstationPage {
    /// The workstations, in registration order.
    items: Vec<WorkstationDto>,
    /// Pass as `after` to get the next page; absent on the last page.
    next_cursor: Option<String>,
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

/// One account's password state (never a password).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PasswordStatusDto {
    employee_id: Uuid,
    directory: String,
    object_guid: Uuid,
    sam_account_name: Option<String>,
    key_serial: Option<String>,
    version: i64,
    state: String,
    waiting_for: Option<String>,
    pending_version: Option<i64>,
    reason: Option<String>,
    waiting_since: Option<DateTime<Utc>>,
    overdue: bool,
    last_commit: Option<DateTime<Utc>>,
    attempts: u32,
    next_attempt_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
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
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PasswordStatusParams {
    /// Only this employee (id or e-mail).
    employee: Option<String>,
}

/// Starts rotations for an employee.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateRequest {
    /// The employee (id or e-mail).
    employee: String,
    /// Only the account in this directory.
    #[serde(default)]
    directory: Option<String>,
}

/// Workstations in registration order, one page at a time.
#[utoipa::path(get, path = "/api/v1/workstations", tag = "workstations", params(PageParams),
    security(("admin_token" = ["read"])),
    responses((status = 200, body = WorkstationPage), (status = 401, body = ErrorBody),
        (status = 422, description = "Bad cursor or limit", body = ErrorBody)))]
pub(crate) async fn list_workstations(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<WorkstationPage>, ApiError> {
    let page = state
        .keyward
        .agent()
        .list(params.after, params.limit)
        .await?;
    Ok(Json(WorkstationPage {
        items: page.items.into_iter().map(WorkstationDto::from).collect(),
        next_cursor: page.next_cursor.map(|c| c.as_str().to_owned()),
    }))
}

/// Approves a pending workstation.
#[utoipa::path(post, path = "/api/v1/workstations/{id}/approve", tag = "workstations",
    params(("id" = Uuid, Path, description = "Workstation id")), security(("admin_token" = ["workstations"])),
    responses((status = 200, body = WorkstationDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`workstation_state`: the workstation is not pending (approved or revoked already)", body = ErrorBody)))]
pub(crate) async fn approve_workstation(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WorkstationDto>, ApiError> {
    let ws = state.keyward.agent().approve(&id, &auth.actor()).await?;
    Ok(Json(ws.into()))
}

/// Revokes a workstation for good.
#[utoipa::path(post, path = "/api/v1/workstations/{id}/revoke", tag = "workstations",
    params(("id" = Uuid, Path, description = "Workstation id")), security(("admin_token" = ["workstations"])),
    responses((status = 200, body = WorkstationDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`workstation_state`: the workstation is revoked already", body = ErrorBody)))]
pub(crate) async fn revoke_workstation(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WorkstationDto>, ApiError> {
    let ws = state.keyward.agent().revoke(&id, &auth.actor()).await?;
    Ok(Json(ws.into()))
}

/// The password state of each account (never a password).
#[utoipa::path(get, path = "/api/v1/passwords", tag = "passwords", params(PasswordStatusParams),
    security(("admin_token" = ["read"])),
    responses((status = 200, body = [PasswordStatusDto]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn password_status(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PasswordStatusParams>,
) -> Result<Json<Vec<PasswordStatusDto>>, ApiError> {
    let list = state
        .keyward
        .passwords()
        .status(params.employee.as_deref())
        .await?;
    Ok(Json(
        list.into_iter().map(PasswordStatusDto::from).collect(),
    ))
}

/// Starts a rotation with generated passwords for an employee's accounts.
#[utoipa::path(post, path = "/api/v1/passwords/rotate", tag = "passwords", request_body = RotateRequest,
    security(("admin_token" = ["passwords"])),
    responses((status = 200, body = [PasswordStatusDto]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn rotate_passwords(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiJson(body): ApiJson<RotateRequest>,
) -> Result<Json<Vec<PasswordStatusDto>>, ApiError> {
    let list = state
        .keyward
        .passwords()
        .rotate(&body.employee, body.directory.as_deref(), &auth.actor())
        .await?;
    Ok(Json(
        list.into_iter().map(PasswordStatusDto::from).collect(),
    ))
}
