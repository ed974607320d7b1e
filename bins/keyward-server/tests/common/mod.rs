//! What every handler test needs: one request through the router, without a socket.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt as _;

/// Opens keyward with `settings` and makes an admin token with every scope; returns both (the
/// token's secret in clear, for `Authorization: Bearer`).
#[allow(dead_code)] // Not every test file needs an admin token.
pub async fn open_with_admin_token(
    settings: &keyward_service::Settings,
) -> (keyward_service::Keyward, String) {
    let keyward =
        keyward_service::Keyward::open_with(settings, keyward_service::OpenMode::CreateIfEmpty)
            .await
            .unwrap();
    let (_, secret) = keyward
        .tokens()
        .create(
            "admin",
            &keyward_model::Scopes::admin(),
            None,
            &keyward_service::Actor::Cli,
        )
        .await
        .unwrap();
    (keyward, secret.expose().to_owned())
}

/// Settings on a fresh in-memory SQLite database.
#[allow(dead_code)] // Not every test file starts from the defaults.
pub fn in_memory() -> keyward_service::Settings {
    keyward_service::Settings {
        database_url: "sqlite::memory:".into(),
        ..keyward_service::Settings::default()
    }
}

/// The peer address of requests sent with [`send`].
pub const PEER: ([u8; 4], u16) = ([127, 0, 0, 1], 50_000);

/// Sends one request to `app` from [`PEER`]: a bearer `token` when given, `body` as JSON, and
/// any more `headers`. Returns the status, the body (JSON; a text body as a JSON string; `null`
/// when empty) and the response headers.
pub async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value, HeaderMap) {
    send_from(
        app,
        SocketAddr::from(PEER),
        method,
        uri,
        token,
        body,
        headers,
    )
    .await
}

/// [`send`] from the peer address `peer` (as the server sees the TCP connection).
#[allow(dead_code, clippy::too_many_arguments)] // Not every test file sends from elsewhere.
pub async fn send_from(
    app: &axum::Router,
    peer: SocketAddr,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value, HeaderMap) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let mut req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let response_headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, value, response_headers)
}
