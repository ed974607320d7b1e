//! `/api/v1/admins`: the console's administrators, as `keyward admins …` manages them. An
//! enrollment link is in the answer that made it only.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::auth::Authenticated;
use crate::dto::{
    AdminDetailDto, AdminDto, ApiJson, ApiPath, CreateAdminRequest, EnrollmentLinkDto, ErrorBody,
};
use crate::error::ApiError;
use crate::state::AppState;

/// Every administrator with their registered credentials.
#[utoipa::path(get, path = "/api/v1/admins", tag = "admins", security(("admin_token" = ["read"])),
    responses((status = 200, body = [AdminDetailDto]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_admins(
    State(state): State<AppState>,
) -> Result<Json<Vec<AdminDetailDto>>, ApiError> {
    let admins = state.keyward.admins().list().await?;
    Ok(Json(admins.iter().map(AdminDetailDto::from).collect()))
}

/// Creates an administrator and a one-time enrollment link, in this answer only.
#[utoipa::path(post, path = "/api/v1/admins", tag = "admins", request_body = CreateAdminRequest,
    security(("admin_token" = ["admin"])),
    responses((status = 201, body = EnrollmentLinkDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "An administrator with this e-mail exists", body = ErrorBody),
        (status = 422, description = "Bad e-mail or name", body = ErrorBody)))]
pub(crate) async fn create_admin(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiJson(body): ApiJson<CreateAdminRequest>,
) -> Result<(StatusCode, Json<EnrollmentLinkDto>), ApiError> {
    let (admin, link) = state
        .keyward
        .admins()
        .create(&body.email, &body.name, &auth.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(EnrollmentLinkDto {
            email: admin.email.as_str().to_owned(),
            admin: Some(AdminDto::from(&admin)),
            enrollment_link: link.expose().to_owned(),
            expires_in_hours: state.keyward.settings().console.enrollment_ttl_hours,
        }),
    ))
}

/// A new one-time enrollment link for an administrator (another device, a lost key).
#[utoipa::path(post, path = "/api/v1/admins/{email}/link", tag = "admins",
    params(("email" = String, Path, description = "The administrator's e-mail")),
    security(("admin_token" = ["admin"])),
    responses((status = 200, body = EnrollmentLinkDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "The administrator is disabled", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn admin_link(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(email): ApiPath<String>,
) -> Result<Json<EnrollmentLinkDto>, ApiError> {
    let link = state.keyward.admins().link(&email, &auth.actor()).await?;
    Ok(Json(EnrollmentLinkDto {
        email: email.trim().to_owned(),
        admin: None,
        enrollment_link: link.expose().to_owned(),
        expires_in_hours: state.keyward.settings().console.enrollment_ttl_hours,
    }))
}

/// Disables an administrator: no more sign-in, and their sessions end now.
#[utoipa::path(post, path = "/api/v1/admins/{email}/disable", tag = "admins",
    params(("email" = String, Path, description = "The administrator's e-mail")),
    security(("admin_token" = ["admin"])),
    responses((status = 200, body = AdminDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn disable_admin(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(email): ApiPath<String>,
) -> Result<Json<AdminDto>, ApiError> {
    let admin = state
        .keyward
        .admins()
        .disable(&email, &auth.actor())
        .await?;
    Ok(Json(AdminDto::from(&admin)))
}
