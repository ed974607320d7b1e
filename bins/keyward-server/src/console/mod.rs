//! The web console under `/console`: server-rendered pages (askama templates, checked at
//! compile time and escaped by default), plain HTML forms, and one small script for WebAuthn.
//!
//! Every rule lives in `keyward-service`; a handler here reads a form, calls the same service
//! operation the API calls, and renders the answer. Nothing here is a second implementation.
//!
//! Invariants:
//! - every page but sign-in and enrollment needs a live session ([`Signed`]); the session cookie
//!   is `HttpOnly`, `Secure`, `SameSite=Strict`, scoped to `/console`;
//! - every state-changing request carries the session's CSRF token (a hidden `csrf` field, or
//!   the `X-CSRF-Token` header from the script), and a POST whose `Origin` is not the console's
//!   is refused before any handler runs;
//! - no page, fragment, redirect or cookie carries a stored password; an activation code is
//!   shown once, in the answer to the action that issued it (never through a redirect or the
//!   flash cookie);
//! - an error shows inline with the API's error code and message (the flash cookie carries it
//!   across the redirect after a POST).

mod auth;
mod frame;
mod pages;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::state::AppState;

/// Sign-in attempts one client address may start at once, and per minute after that: enough
/// for people, too few to probe which e-mails are admins or to guess at scale.
pub(crate) const SIGN_IN_BURST: u32 = 10;
pub(crate) const SIGN_IN_PER_MINUTE: u32 = 10;

/// The session cookie.
const SESSION_COOKIE: &str = "keyward_session";
/// The one-request notice after a POST.
const FLASH_COOKIE: &str = "keyward_flash";

/// Every console route.
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(pages::dashboard::page))
        .route("/console/static/console.js", get(script))
        .route("/console/static/console.css", get(style))
        .merge(auth::routes())
        .merge(pages::routes())
        .layer(from_fn_with_state(state.clone(), same_origin))
}

/// Refuses a state-changing request whose `Origin` is not the console's own
/// (`console.public_url`), before it reaches a handler.
async fn same_origin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != axum::http::Method::GET && request.method() != axum::http::Method::HEAD {
        let expected = state
            .keyward
            .settings()
            .console
            .public_url
            .trim_end_matches('/')
            .to_owned();
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        if origin.is_some_and(|o| o != expected) {
            tracing::warn!(origin = ?origin, "console request from another origin refused");
            return (
                StatusCode::FORBIDDEN,
                "refused: this request came from another site than the console \
                 (console.public_url)",
            )
                .into_response();
        }
    }
    next.run(request).await
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../static/console.js"),
    )
        .into_response()
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/console.css"),
    )
        .into_response()
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` value for the console's cookies: `HttpOnly`, `Secure`, `SameSite=Strict`,
/// path `/console`; `max_age` 0 deletes it.
fn set_cookie(name: &str, value: &str, max_age_secs: u64) -> String {
    format!(
        "{name}={value}; Path=/console; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite=Strict"
    )
}
