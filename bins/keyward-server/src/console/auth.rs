//! Sign-in with a passkey, enrollment through a one-time link, the admin's own passkeys, and
//! sign-out.

use askama::Template;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use keyward_model::AdminCredential;
use keyward_service::Challenge;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::frame::{Checked, Flash, Frame, NoFields, Signed, after_action, render};
use super::{SESSION_COOKIE, set_cookie};
use crate::error::ApiError;
use crate::ratelimit::client_address;
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/sign-in", get(sign_in_page))
        .route("/console/sign-in/start", post(sign_in_start))
        .route("/console/sign-in/finish", post(sign_in_finish))
        .route("/console/sign-out", post(sign_out))
        .route("/console/enroll/{link}", get(enroll_page))
        .route("/console/enroll/{link}/start", post(enroll_start))
        .route("/console/enroll/{link}/finish", post(enroll_finish))
        .route("/console/account", get(account_page))
        .route("/console/account/passkeys/start", post(add_start))
        .route("/console/account/passkeys/finish", post(add_finish))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    frame: Frame,
}

async fn sign_in_page(flash: Flash) -> Response {
    let mut frame = Frame::anonymous();
    frame.notice = flash.0;
    render(&SignInPage { frame })
}

#[derive(Deserialize)]
struct SignInStart {
    email: String,
}

fn challenge_json(c: &Challenge) -> Json<serde_json::Value> {
    Json(json!({ "ceremony": c.ceremony, "options": c.options }))
}

async fn sign_in_start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<SignInStart>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let address = client_address(
        peer.ip(),
        &headers,
        &state.keyward.settings().agent.trusted_proxies,
    );
    if let Err(retry_after) = state.sign_in_limiter.check(address) {
        tracing::warn!(%address, retry_after, "console sign-in attempts rate-limited");
        return Err(ApiError::rate_limited(
            retry_after,
            format!("too many sign-in attempts from this address; retry in {retry_after} s"),
        ));
    }
    let challenge = state.keyward.admins().start_sign_in(&body.email).await?;
    Ok(challenge_json(&challenge))
}

#[derive(Deserialize)]
struct Finish {
    ceremony: Uuid,
    credential: serde_json::Value,
    #[serde(default)]
    label: String,
}

async fn sign_in_finish(
    State(state): State<AppState>,
    Json(body): Json<Finish>,
) -> Result<Response, ApiError> {
    let signed_in = state
        .keyward
        .admins()
        .finish_sign_in(body.ceremony, &body.credential.to_string())
        .await?;
    let max_age = u64::from(state.keyward.settings().console.session_max_hours) * 3600;
    let cookie = set_cookie(SESSION_COOKIE, signed_in.secret.expose(), max_age);
    let mut response = Json(json!({ "redirect": "/console/" })).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

async fn sign_out(
    State(state): State<AppState>,
    Checked { signed, form: _ }: Checked<NoFields>,
) -> Response {
    let outcome = state
        .keyward
        .admins()
        .sign_out(&signed.session, &signed.secret)
        .await
        .map(|()| "signed out".to_owned());
    let mut response = after_action("/console/sign-in", outcome);
    if let Ok(value) = HeaderValue::from_str(&set_cookie(SESSION_COOKIE, "", 0)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Template)]
#[template(path = "enroll.html")]
struct EnrollPage {
    frame: Frame,
    admin_name: Option<String>,
    admin_email: String,
    start_url: String,
    finish_url: String,
    csrf: String,
    done_url: String,
}

async fn enroll_page(State(state): State<AppState>, Path(link): Path<String>) -> Response {
    let admin = state.keyward.admins().enrollment_admin(&link).await.ok();
    render(&EnrollPage {
        frame: Frame::anonymous(),
        admin_email: admin
            .as_ref()
            .map(|a| a.email.to_string())
            .unwrap_or_default(),
        admin_name: admin.map(|a| a.name),
        start_url: format!("/console/enroll/{link}/start"),
        finish_url: format!("/console/enroll/{link}/finish"),
        csrf: String::new(),
        done_url: "/console/sign-in".into(),
    })
}

async fn enroll_start(
    State(state): State<AppState>,
    Path(link): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let challenge = state.keyward.admins().start_enrollment(&link).await?;
    Ok(challenge_json(&challenge))
}

async fn enroll_finish(
    State(state): State<AppState>,
    Path(link): Path<String>,
    Json(body): Json<Finish>,
) -> Result<Json<AdminCredential>, ApiError> {
    let credential = state
        .keyward
        .admins()
        .finish_enrollment(
            &link,
            body.ceremony,
            &body.credential.to_string(),
            &body.label,
        )
        .await?;
    Ok(Json(credential))
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    frame: Frame,
    credentials: Vec<AdminCredential>,
}

async fn account_page(State(state): State<AppState>, signed: Signed, flash: Flash) -> Response {
    let credentials = state.keyward.admins().list().await.map(|all| {
        all.into_iter()
            .find(|v| v.admin.id == signed.session.admin.id)
            .map(|v| v.credentials)
            .unwrap_or_default()
    });
    match credentials {
        Ok(credentials) => render(&AccountPage {
            frame: signed.frame("account", flash),
            credentials,
        }),
        Err(e) => ApiError::from(e).into_response(),
    }
}

// The refusal is the answer itself, as axum handlers return it.
#[allow(clippy::result_large_err)]
fn header_csrf(signed: &Signed, headers: &HeaderMap) -> Result<(), Response> {
    let presented = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    signed.check_csrf(presented)
}

async fn add_start(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, Response> {
    header_csrf(&signed, &headers)?;
    let challenge = state
        .keyward
        .admins()
        .start_registration(&signed.session.admin)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok(challenge_json(&challenge))
}

async fn add_finish(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Json(body): Json<Finish>,
) -> Result<Json<AdminCredential>, Response> {
    header_csrf(&signed, &headers)?;
    let credential = state
        .keyward
        .admins()
        .finish_registration(
            &signed.session.admin,
            body.ceremony,
            &body.credential.to_string(),
            &body.label,
            None,
        )
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok(Json(credential))
}
