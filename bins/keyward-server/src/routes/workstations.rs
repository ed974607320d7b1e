//! `/api/v1/workstations` and `/api/v1/passwords`: what administrators do with workstations
//! and password rotations (the same as `keyward workstations …` and `keyward passwords …`).

use axum::Extension;
use axum::Json;
use axum::extract::State;
use keyward_service::{NewPassword, SecretString};

use crate::auth::Authenticated;
use crate::dto::{
    AdvanceReportDto, ApiJson, ApiPath, ApiQuery, ErrorBody, PageParams, PasswordStatusDto,
    PasswordStatusParams, RotateRequest, SetPasswordRequest, WorkstationDto, WorkstationPage,
};
use crate::error::ApiError;
use crate::state::AppState;

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

/// Sets one account's password to the given value, or a generated one when none is given: it goes to the key first, then
/// to the directory (docs/product.md §3). The password is never logged or echoed.
#[utoipa::path(post, path = "/api/v1/passwords/set", tag = "passwords", request_body = SetPasswordRequest,
    security(("admin_token" = ["passwords"])),
    responses((status = 200, body = PasswordStatusDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "A rotation of the account is under way, or it has no key", body = ErrorBody),
        (status = 422, description = "A password the policy refuses", body = ErrorBody)))]
pub(crate) async fn set_password(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiJson(body): ApiJson<SetPasswordRequest>,
) -> Result<Json<PasswordStatusDto>, ApiError> {
    let password = match body.password {
        None => NewPassword::Generate,
        Some(given) => NewPassword::Given(SecretString::new(given)),
    };
    let status = state
        .keyward
        .passwords()
        .set(&body.employee, &body.directory, password, &auth.actor())
        .await?;
    Ok(Json(status.into()))
}

/// Runs the due directory steps of rotations once (the server's worker does this on its own).
#[utoipa::path(post, path = "/api/v1/passwords/advance", tag = "passwords",
    security(("admin_token" = ["passwords"])),
    responses((status = 200, body = AdvanceReportDto), (status = 401, body = ErrorBody)))]
pub(crate) async fn advance_passwords(
    State(state): State<AppState>,
) -> Result<Json<AdvanceReportDto>, ApiError> {
    Ok(Json(state.keyward.passwords().advance_due().await?.into()))
}
