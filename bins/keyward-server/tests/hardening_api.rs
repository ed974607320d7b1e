//! HTTP hardening through the whole app: security headers on every kind of answer, HSTS only
//! over TLS, the client certificate the agent API needs under mutual TLS, and metric labels
//! that a client cannot multiply.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use keyward_server::{HttpOptions, TlsConnection};
use keyward_service::Keyward;
use serde_json::Value;
use tower::ServiceExt as _;

/// method, path, token, body, expected status.
type Case<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    StatusCode,
);

async fn keyward() -> (Keyward, String) {
    common::open_with_admin_token(&common::in_memory()).await
}

/// One request as the TLS accept loop hands it on: with a [`TlsConnection`] when `tls`.
async fn send_over(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
    tls: Option<TlsConnection>,
) -> (StatusCode, Value, HeaderMap) {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    if let Some(tls) = tls {
        request = request.extension(tls);
    }
    // What the server's accept loop records for every connection (registration needs it).
    let peer: std::net::SocketAddr = ([127, 0, 0, 1], 40_000).into();
    request = request.extension(axum::extract::ConnectInfo(peer));
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value, headers)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn every_answer_is_nosniff_and_secret_bearing_ones_are_never_stored() {
    let (keyward, token) = keyward().await;
    let app = keyward_server::app(keyward);
    let assign = r#"{"employee":"ada@example.com"}"#;
    let (status, _, _) = common::send(
        &app,
        "POST",
        "/api/v1/employees",
        Some(&token),
        Some(r#"{"email":"ada@example.com","display_name":"Ada"}"#),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = common::send(
        &app,
        "POST",
        "/api/v1/keys",
        Some(&token),
        Some(r#"{"serials":["HK-1"]}"#),
        &[],
    )
    .await;
    assert!(status.is_success(), "{status}");
    // An answer with an activation code, a 401, the agent registration (a credential), the
    // OpenAPI document, an unknown /api/v1 route: all `no-store`.
    let cases: [Case; 5] = [
        (
            "POST",
            "/api/v1/keys/HK-1/assign",
            Some(&token),
            Some(assign),
            StatusCode::OK,
        ),
        (
            "GET",
            "/api/v1/employees",
            None,
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "POST",
            "/api/v1/agent/register",
            None,
            Some(r#"{"name":"WS-1"}"#),
            StatusCode::CREATED,
        ),
        ("GET", "/api/v1/openapi.json", None, None, StatusCode::OK),
        (
            "GET",
            "/api/v1/no-such-route",
            None,
            None,
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, uri, token, body, expected) in cases {
        let (status, value, headers) = common::send(&app, method, uri, token, body, &[]).await;
        assert_eq!(status, expected, "{method} {uri}: {value}");
        assert_eq!(header(&headers, "cache-control"), Some("no-store"), "{uri}");
        assert_eq!(
            header(&headers, "x-content-type-options"),
            Some("nosniff"),
            "{uri}"
        );
        assert_eq!(header(&headers, "strict-transport-security"), None, "{uri}");
    }
    // Health and metrics carry no secret: they may be cached, but are nosniff too.
    for uri in ["/healthz", "/metrics"] {
        let (status, _, headers) = common::send(&app, "GET", uri, None, None, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&headers, "cache-control"), None, "{uri}");
        assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    }
}

#[tokio::test]
async fn the_enrollment_page_forbids_framing_loading_and_referrers() {
    let (keyward, _) = keyward().await;
    let app = keyward_server::app(keyward);
    let (status, page, headers) =
        common::send(&app, "GET", "/enroll/kwi_not-a-real-link", None, None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/html"),
        "{headers:?}"
    );
    assert!(page.as_str().unwrap().contains("<html"), "{page}");
    let csp = header(&headers, "content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(header(&headers, "referrer-policy"), Some("no-referrer"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&headers, "x-frame-options"), Some("DENY"));
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
}

#[tokio::test]
async fn hsts_only_on_answers_served_over_tls() {
    let (keyward, _) = keyward().await;
    let app = keyward_server::app(keyward);
    let tls = TlsConnection {
        client_certificate: false,
    };
    for uri in ["/healthz", "/api/v1/openapi.json", "/nowhere"] {
        let (_, _, headers) = send_over(&app, "GET", uri, None, Some(tls)).await;
        let hsts = header(&headers, "strict-transport-security").unwrap_or_default();
        assert!(hsts.starts_with("max-age=31536000"), "{uri}: {hsts:?}");
        let (_, _, headers) = send_over(&app, "GET", uri, None, None).await;
        assert_eq!(header(&headers, "strict-transport-security"), None, "{uri}");
    }
}

#[tokio::test]
async fn under_mutual_tls_agents_need_a_client_certificate_and_administrators_do_not() {
    let (keyward, token) = keyward().await;
    let app = keyward_server::app_with_options(
        keyward,
        &HttpOptions {
            agent_client_certificate: true,
            ..HttpOptions::default()
        },
    );
    let register = Some(r#"{"name":"WS-7"}"#);
    let without = TlsConnection {
        client_certificate: false,
    };
    for tls in [None, Some(without)] {
        let (status, body, _) =
            send_over(&app, "POST", "/api/v1/agent/register", register, tls).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("client certificate"),
            "{body}"
        );
        let (status, _, _) = send_over(&app, "GET", "/api/v1/agent/me", None, tls).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let with = TlsConnection {
        client_certificate: true,
    };
    let (status, body, _) =
        send_over(&app, "POST", "/api/v1/agent/register", register, Some(with)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The admin API keeps its bearer tokens and asks for no certificate.
    let (status, _, _) =
        common::send(&app, "GET", "/api/v1/employees", Some(&token), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn metric_labels_are_bounded_whatever_the_client_sends() {
    let (keyward, _) = keyward().await;
    let app = keyward_server::app(keyward);
    for method in ["BREW", "PROPFIND", "X-ANYTHING-1"] {
        let (status, _, _) = common::send(&app, method, "/healthz", None, None, &[]).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    for n in 0..5 {
        let (status, _, _) =
            common::send(&app, "GET", &format!("/probe-{n}/x"), None, None, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (_, text, _) = common::send(&app, "GET", "/metrics", None, None, &[]).await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains(r#"method="other",route="/healthz",status="405""#),
        "{text}"
    );
    assert!(
        !text.contains("BREW") && !text.contains("PROPFIND"),
        "{text}"
    );
    assert!(!text.contains("probe-"), "{text}");
    let unmatched = text
        .lines()
        .filter(|l| l.starts_with("keyward_http_requests_total") && l.contains("unmatched"))
        .count();
    assert_eq!(unmatched, 1, "{text}");
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_plain_caller_id_is_kept() {
    let (keyward, _) = keyward().await;
    let app = keyward_server::app(keyward);
    let (_, _, headers) = common::send(&app, "GET", "/healthz", None, None, &[]).await;
    let made = headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(made.len(), 32, "{made}");
    let (_, _, again) = common::send(&app, "GET", "/nope", None, None, &[]).await;
    assert_ne!(again["x-request-id"], made.as_str(), "a new id per request");
    let (_, _, kept) = common::send(
        &app,
        "GET",
        "/healthz",
        None,
        None,
        &[("x-request-id", "case-4711.a")],
    )
    .await;
    assert_eq!(kept["x-request-id"], "case-4711.a");
    let (_, _, replaced) = common::send(
        &app,
        "GET",
        "/healthz",
        None,
        None,
        &[("x-request-id", "has spaces; and more")],
    )
    .await;
    assert_ne!(replaced["x-request-id"], "has spaces; and more");
}
