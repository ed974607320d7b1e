//! `/api/v1/tokens`: admin API tokens, as `keyward token …` manages them. A token's secret is
//! in the creation answer only.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_model::Scopes;

use crate::auth::Authenticated;
use crate::dto::{ApiJson, ApiPath, CreateTokenRequest, CreatedTokenDto, ErrorBody, TokenDto};
use crate::error::ApiError;
use crate::state::AppState;

/// Every token, revoked and expired ones included (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("admin_token" = ["read"])),
    responses((status = 200, body = [TokenDto]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_tokens(
    State(state): State<AppState>,
) -> Result<Json<Vec<TokenDto>>, ApiError> {
    let now = chrono::Utc::now();
    let tokens = state.keyward.tokens().list().await?;
    Ok(Json(tokens.iter().map(|t| TokenDto::new(t, now)).collect()))
}

/// Creates a token; its secret is in this answer and never again.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateTokenRequest,
    security(("admin_token" = ["admin"])),
    responses((status = 201, body = CreatedTokenDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "The name is taken (names are never reused)", body = ErrorBody),
        (status = 422, description = "Bad name, scope or expiry", body = ErrorBody)))]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiJson(body): ApiJson<CreateTokenRequest>,
) -> Result<(StatusCode, Json<CreatedTokenDto>), ApiError> {
    let tokens = state.keyward.tokens();
    let scopes = Scopes::parse_list(&body.scope).map_err(keyward_service::Error::from)?;
    let expires_at = tokens.parse_expiry(body.expires.as_deref().unwrap_or("never"))?;
    let (token, secret) = tokens
        .create(&body.name, &scopes, expires_at, &auth.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTokenDto {
            details: TokenDto::new(&token, chrono::Utc::now()),
            token: secret.expose().to_owned(),
        }),
    ))
}

/// Revokes a token by name: it stops working at once.
#[utoipa::path(post, path = "/api/v1/tokens/{name}/revoke", tag = "tokens",
    params(("name" = String, Path, description = "Token name")),
    security(("admin_token" = ["admin"])),
    responses((status = 200, body = TokenDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<TokenDto>, ApiError> {
    let token = state.keyward.tokens().revoke(&name, &auth.actor()).await?;
    Ok(Json(TokenDto::new(&token, chrono::Utc::now())))
}
