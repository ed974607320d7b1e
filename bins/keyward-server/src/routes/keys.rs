//! `/api/v1/keys`: the hardware-key lifecycle of docs/product.md §2.
//!
//! A transition the table does not allow is 409 `invalid_transition`; a lost race on one key is
//! 409 `concurrent_change`; an unknown key or employee is 404; bad input 422.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::auth::Authenticated;
use crate::dto::{
    ActivationCodeRequest, ApiJson, ApiPath, ApiQuery, AssignKeyRequest, AuditRecordDto, ErrorBody,
    ImportKeysRequest, KeyDto, KeyListParams, KeyPage, KeyWithCodeDto, ReasonRequest,
    SuspendKeyRequest,
};
use crate::error::ApiError;
use crate::state::AppState;

type KeyResult = Result<Json<KeyDto>, ApiError>;
type CodeResult = Result<Json<KeyWithCodeDto>, ApiError>;

/// One page of keys by serial, optionally in one status.
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", params(KeyListParams),
    security(("admin_token" = ["read"])),
    responses((status = 200, description = "One page of keys", body = KeyPage), (status = 401, body = ErrorBody),
        (status = 422, description = "Bad status, cursor or limit", body = ErrorBody)))]
pub(crate) async fn list_keys(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<KeyListParams>,
) -> Result<Json<KeyPage>, ApiError> {
    let page = state
        .keyward
        .keys()
        .list(params.status.as_deref(), params.after, params.limit)
        .await?;
    Ok(Json(KeyPage {
        items: page.items.into_iter().map(KeyDto::from).collect(),
        next_cursor: page.next_cursor.map(|c| c.as_str().to_owned()),
    }))
}

/// Imports keys into stock (status Ready): all or none.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", request_body = ImportKeysRequest,
    security(("admin_token" = ["keys"])),
    responses((status = 201, body = [KeyDto]), (status = 401, body = ErrorBody),
        (status = 409, description = "A serial exists already", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn import_keys(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiJson(body): ApiJson<ImportKeysRequest>,
) -> Result<(StatusCode, Json<Vec<KeyDto>>), ApiError> {
    let keys = state
        .keyward
        .keys()
        .import(&body.serials, &auth.actor())
        .await?;
    let views = keys
        .into_iter()
        .map(|key| keyward_service::KeyView { key, owner: None })
        .map(KeyDto::from)
        .collect();
    Ok((StatusCode::CREATED, Json(views)))
}

/// One key with its owner.
#[utoipa::path(get, path = "/api/v1/keys/{serial}", tag = "keys",
    params(("serial" = String, Path, description = "Key serial number")),
    security(("admin_token" = ["read"])),
    responses((status = 200, body = KeyDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_key(
    State(state): State<AppState>,
    ApiPath(serial): ApiPath<String>,
) -> KeyResult {
    Ok(Json(state.keyward.keys().show(&serial).await?.into()))
}

/// Removes a Ready or Compromised key from the inventory; its history stays.
#[utoipa::path(delete, path = "/api/v1/keys/{serial}", tag = "keys",
    params(("serial" = String, Path, description = "Key serial number")),
    security(("admin_token" = ["keys"])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn delete_key(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(serial): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.keyward.keys().delete(&serial, &auth.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The key's audit records, oldest first.
#[utoipa::path(get, path = "/api/v1/keys/{serial}/history", tag = "keys",
    params(("serial" = String, Path, description = "Key serial number")),
    security(("admin_token" = ["read"])),
    responses((status = 200, body = [AuditRecordDto]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn key_history(
    State(state): State<AppState>,
    ApiPath(serial): ApiPath<String>,
) -> Result<Json<Vec<AuditRecordDto>>, ApiError> {
    let records = state.keyward.keys().history(&serial).await?;
    Ok(Json(
        records.into_iter().map(AuditRecordDto::from).collect(),
    ))
}

/// Assigns a Ready key to an employee and returns its activation code (shown once).
#[utoipa::path(post, path = "/api/v1/keys/{serial}/assign", tag = "keys", request_body = AssignKeyRequest,
    params(("serial" = String, Path, description = "Key serial number")),
    security(("admin_token" = ["keys"])),
    responses((status = 200, body = KeyWithCodeDto), (status = 401, body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, description = "A bad body, or an employee that does not exist (code `not_found`)", body = ErrorBody)))]
pub(crate) async fn assign_key(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(serial): ApiPath<String>,
    ApiJson(body): ApiJson<AssignKeyRequest>,
) -> CodeResult {
    let done = state
        .keyward
        .keys()
        .assign(&serial, &body.employee, &auth.actor())
        .await
        .map_err(body_names_a_missing_employee)?;
    Ok(Json(done.into()))
}

/// An employee the body names that does not exist is the body's fault: 422, with the code
/// `not_found` the CLI reads, so that a 404 always means the key of the path.
fn body_names_a_missing_employee(e: keyward_service::Error) -> ApiError {
    let body_fault = matches!(
        e,
        keyward_service::Error::NotFound {
            what: "employee",
            ..
        }
    );
    let api = ApiError::from(e);
    if body_fault {
        api.with_status(StatusCode::UNPROCESSABLE_ENTITY)
    } else {
        api
    }
}

/// Cancels the issuance of a Reserved key not yet linked to a workstation.
#[utoipa::path(post, path = "/api/v1/keys/{serial}/cancel", tag = "keys",
    params(("serial" = String, Path, description = "Key serial number")),
    security(("admin_token" = ["keys"])),
    responses((status = 200, body = KeyDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn cancel_key(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(serial): ApiPath<String>,
) -> KeyResult {
    Ok(Json(
        state
            .keyward
            .keys()
            .cancel(&serial, &auth.actor())
            .await?
            .into(),
    ))
}

/// Activates a Reserved key with its activation code.
#[utoipa::path(post, path = "/api/v1/keys/{serial}/activate", tag = "keys", request_body = ActivationCodeRequest,
    params(("serial" = String, Path, description = "Key serial number")),
    security(("admin_token" = ["keys"])),
    responses((status = 200, body = KeyDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, description = "Wrong, expired or exhausted code", body = ErrorBody)))]
pub(crate) async fn activate_key(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(serial): ApiPath<String>,
    ApiJson(body): ApiJson<ActivationCodeRequest>,
) -> KeyResult {
    Ok(Json(
        state
            .keyward
            .keys()
            .activate(&serial, &body.code, &auth.actor())
            .await?
            .into(),
    ))
}

/// Resumes a Suspended key with its activation code.
#[utoipa::path(post, path = "/api/v1/keys/{serial}/resume", tag = "keys", request_body = ActivationCodeRequest,
    params(("serial" = String, Path, description = "Key serial number")),
    security(("admin_token" = ["keys"])),
    responses((status = 200, body = KeyDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, description = "Wrong, expired or exhausted code", body = ErrorBody)))]
pub(crate) async fn resume_key(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(serial): ApiPath<String>,
    ApiJson(body): ApiJson<ActivationCodeRequest>,
) -> KeyResult {
    Ok(Json(
        state
            .keyward
            .keys()
            .resume(&serial, &body.code, &auth.actor())
            .await?
            .into(),
    ))
}

/// Locks an Active key (`locked_by_invalid_pin` or `admin`).
#[utoipa::path(post, path = "/api/v1/keys/{serial}/lock", tag = "keys", request_body = ReasonRequest,
    params(("serial" = String, Path, description = "Key serial number")),
    security(("admin_token" = ["keys"])),
    responses((status = 200, body = KeyDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn lock_key(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(serial): ApiPath<String>,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> KeyResult {
    Ok(Json(
        state
            .keyward
            .keys()
            .lock(&serial, &body.reason, &auth.actor())
            .await?
            .into(),
    ))
}

/// Suspends an Active key; returns the code that resumes it (shown once).
#[utoipa::path(post, path = "/api/v1/keys/{serial}/suspend", tag = "keys", request_body = SuspendKeyRequest,
    params(("serial" = String, Path, description = "Key serial number")),
    security(("admin_token" = ["keys"])),
    responses((status = 200, body = KeyWithCodeDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn suspend_key(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(serial): ApiPath<String>,
    ApiJson(body): ApiJson<SuspendKeyRequest>,
) -> CodeResult {
    let done = state
        .keyward
        .keys()
        .suspend(&serial, &body.description, &auth.actor())
        .await?;
    Ok(Json(done.into()))
}

/// Removes the Locked status: the key becomes Suspended with a new code (shown once).
#[utoipa::path(post, path = "/api/v1/keys/{serial}/unlock", tag = "keys",
    params(("serial" = String, Path, description = "Key serial number")),
    security(("admin_token" = ["keys"])),
    responses((status = 200, body = KeyWithCodeDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn unlock_key(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(serial): ApiPath<String>,
) -> CodeResult {
    Ok(Json(
        state
            .keyward
            .keys()
            .unlock(&serial, &auth.actor())
            .await?
            .into(),
    ))
}

/// Takes the key from its owner and queues a wipe.
#[utoipa::path(post, path = "/api/v1/keys/{serial}/deactivate", tag = "keys", request_body = ReasonRequest,
    params(("serial" = String, Path, description = "Key serial number")),
    security(("admin_token" = ["keys"])),
    responses((status = 200, body = KeyDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn deactivate_key(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(serial): ApiPath<String>,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> KeyResult {
    Ok(Json(
        state
            .keyward
            .keys()
            .deactivate(&serial, &body.reason, &auth.actor())
            .await?
            .into(),
    ))
}

/// Records that a Deactivated key was wiped: it returns to stock.
#[utoipa::path(post, path = "/api/v1/keys/{serial}/confirm-wipe", tag = "keys",
    params(("serial" = String, Path, description = "Key serial number")),
    security(("admin_token" = ["keys"])),
    responses((status = 200, body = KeyDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn confirm_wipe(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(serial): ApiPath<String>,
) -> KeyResult {
    Ok(Json(
        state
            .keyward
            .keys()
            .confirm_wipe(&serial, &auth.actor())
            .await?
            .into(),
    ))
}

/// Marks a key lost or stolen (terminal).
#[utoipa::path(post, path = "/api/v1/keys/{serial}/compromise", tag = "keys", request_body = ReasonRequest,
    params(("serial" = String, Path, description = "Key serial number")),
    security(("admin_token" = ["keys"])),
    responses((status = 200, body = KeyDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn compromise_key(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(serial): ApiPath<String>,
    ApiJson(body): ApiJson<ReasonRequest>,
) -> KeyResult {
    Ok(Json(
        state
            .keyward
            .keys()
            .compromise(&serial, &body.reason, &auth.actor())
            .await?
            .into(),
    ))
}
