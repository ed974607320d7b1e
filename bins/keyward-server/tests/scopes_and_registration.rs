//! Admin-token scopes and expiry, and workstation registration (rate limit, registration
//! secret, source address, fingerprint, paged listing), through the whole app as a tower
//! service.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{StatusCode, header};
use chrono::{Duration, TimeZone, Utc};
use keyward_model::{Scope, Scopes};
use keyward_service::{Actor, Keyward, ManualClock, OpenMode, Settings};
use serde_json::{Value, json};

async fn open(settings: Settings) -> (Keyward, axum::Router) {
    let keyward = Keyward::open_with(
        &Settings {
            database_url: "sqlite::memory:".into(),
            ..settings
        },
        OpenMode::CreateIfEmpty,
    )
    .await
    .unwrap();
    let app = keyward_server::app(keyward.clone());
    (keyward, app)
}

async fn token(keyward: &Keyward, name: &str, scopes: &str) -> String {
    let scopes = Scopes::parse_list(scopes).unwrap();
    let (_, secret) = keyward
        .tokens()
        .create(name, &scopes, None, &Actor::Cli)
        .await
        .unwrap();
    secret.expose().to_owned()
}

fn sha256_hex(text: &str) -> String {
    use std::fmt::Write as _;
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

async fn register(app: &axum::Router, peer: SocketAddr, body: &Value) -> (StatusCode, Value) {
    let (status, body, _) = common::send_from(
        app,
        peer,
        "POST",
        "/api/v1/agent/register",
        None,
        Some(&body.to_string()),
        &[],
    )
    .await;
    (status, body)
}

fn peer(last: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, last], 40_000))
}

/// Every admin route names exactly one scope in the OpenAPI document, a token with every other
/// scope gets 403 `insufficient_scope` naming it (and the route does nothing), and a token with
/// just that scope gets past the check.
#[tokio::test]
async fn every_admin_route_needs_its_own_scope() {
    let (keyward, app) = open(Settings::default()).await;
    let (_, doc, _) = common::send(&app, "GET", "/api/v1/openapi.json", None, None, &[]).await;
    let mut admin_routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(security) = op["security"].as_array() else {
                continue;
            };
            let admin: Vec<&Value> = security
                .iter()
                .filter_map(|r| r.get("admin_token"))
                .collect();
            if admin.is_empty() {
                continue;
            }
            let scopes = admin[0].as_array().unwrap();
            assert_eq!(scopes.len(), 1, "{method} {path}: {scopes:?}");
            let scope = Scope::parse(scopes[0].as_str().unwrap()).unwrap();
            // A route that makes credentials (tokens, console admins) needs `admin`: with a
            // narrower scope a token could give itself more. Every other route is specific.
            let makes_credentials = method != "get"
                && (path.starts_with("/api/v1/tokens") || path.starts_with("/api/v1/admins"));
            if makes_credentials {
                assert_eq!(scope, Scope::Admin, "{method} {path}: makes credentials");
            } else {
                assert_ne!(scope, Scope::Admin, "{method} {path}: be specific");
            }
            assert!(
                op["responses"]["403"].is_object() && op["responses"]["401"].is_object(),
                "{method} {path}: the token refusals are documented"
            );
            admin_routes.push((method.to_uppercase(), path.clone(), scope));
        }
    }
    assert!(admin_routes.len() >= 29, "{admin_routes:?}");
    let expected = [
        (
            "POST",
            "/api/v1/workstations/{id}/approve",
            Scope::Workstations,
        ),
        (
            "POST",
            "/api/v1/workstations/{id}/revoke",
            Scope::Workstations,
        ),
        ("POST", "/api/v1/passwords/rotate", Scope::Passwords),
        ("POST", "/api/v1/directories/{name}/sync", Scope::Sync),
        ("POST", "/api/v1/keys/{serial}/assign", Scope::Keys),
        ("DELETE", "/api/v1/keys/{serial}", Scope::Keys),
        ("GET", "/api/v1/workstations", Scope::Read),
        ("GET", "/api/v1/passwords", Scope::Read),
        ("POST", "/api/v1/tokens", Scope::Admin),
        ("POST", "/api/v1/admins", Scope::Admin),
        ("GET", "/api/v1/audit", Scope::Read),
        ("POST", "/api/v1/passwords/set", Scope::Passwords),
    ];
    for (method, path, scope) in expected {
        assert!(
            admin_routes
                .iter()
                .any(|(m, p, s)| m == method && p == path && *s == scope),
            "{method} {path} should need {scope}"
        );
    }
    for (method, _, scope) in &admin_routes {
        if method == "GET" {
            assert_eq!(*scope, Scope::Read, "every GET is read");
        }
    }

    let all_but = |needed: Scope| {
        Scope::ALL
            .into_iter()
            .filter(|s| *s != needed && *s != Scope::Admin)
            .map(Scope::as_str)
            .collect::<Vec<_>>()
            .join(",")
    };
    for (n, (method, path, scope)) in admin_routes.iter().enumerate() {
        let uri = path
            .replace("{id}", "01a210d0-1ef4-750a-b561-900de409afd3")
            .replace("{serial}", "NO-SUCH-KEY")
            .replace("{name}", "nodir")
            .replace("{email}", "nobody@example.com");
        let without = token(&keyward, &format!("without-{n}"), &all_but(*scope)).await;
        let (status, body, headers) =
            common::send(&app, method, &uri, Some(&without), Some("{}"), &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(
            body["error"]["code"], "insufficient_scope",
            "{method} {path}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`{scope}`")),
            "{method} {path}: {message}"
        );
        assert!(!message.contains(&without), "the token is never echoed");
        assert_eq!(
            headers[header::WWW_AUTHENTICATE],
            format!(r#"Bearer error="insufficient_scope", scope="{scope}""#)
        );

        let with = token(&keyward, &format!("with-{n}"), scope.as_str()).await;
        let (status, body, _) =
            common::send(&app, method, &uri, Some(&with), Some("{}"), &[]).await;
        assert!(
            status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
            "{method} {path} with `{scope}`: {status} {body}"
        );
    }
}

/// The attack: a token meant for reading (or for keys) approves a rogue workstation. Refused,
/// and the workstation stays pending; a token with the `workstations` scope approves it, and
/// the approval is recorded under that token's name.
#[tokio::test]
async fn a_token_without_the_workstations_scope_cannot_approve_a_workstation() {
    let (keyward, app) = open(Settings::default()).await;
    let (status, ws) = register(&app, peer(7), &json!({ "name": "WS-042" })).await;
    assert_eq!(status, StatusCode::CREATED, "{ws}");
    let id = ws["workstation_id"].as_str().unwrap().to_owned();
    let approve = format!("/api/v1/workstations/{id}/approve");

    let helpdesk = token(&keyward, "helpdesk", "read,keys,sync,passwords").await;
    let (status, body, _) = common::send(&app, "POST", &approve, Some(&helpdesk), None, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_scope");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`workstations`"),
        "{body}"
    );
    let (status, listed, _) = common::send(
        &app,
        "GET",
        "/api/v1/workstations",
        Some(&helpdesk),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "read may list");
    assert_eq!(listed["items"][0]["status"], "pending", "{listed}");
    // The workstation is still refused by the agent API.
    let credential = ws["credential"].as_str().unwrap();
    let (status, body, _) = common::send(
        &app,
        "POST",
        "/api/v1/agent/keys/HK-1/seen",
        Some(credential),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "workstation_not_approved");

    let ops = token(&keyward, "workstation-ops", "workstations").await;
    let (status, body, _) = common::send(&app, "POST", &approve, Some(&ops), None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "approved");
    // `workstations` alone does not read.
    let (status, _, _) =
        common::send(&app, "GET", "/api/v1/workstations", Some(&ops), None, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Key operations are audited under the token's name: the key history shows it.
    let keys = token(&keyward, "key-ops", "keys,read").await;
    let (status, body, _) = common::send(
        &app,
        "POST",
        "/api/v1/keys",
        Some(&keys),
        Some(r#"{"serials": ["HK-1"]}"#),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, history, _) = common::send(
        &app,
        "GET",
        "/api/v1/keys/HK-1/history",
        Some(&keys),
        None,
        &[],
    )
    .await;
    assert_eq!(history[0]["actor"], "token:key-ops", "{history}");
}

#[tokio::test]
async fn an_expired_token_is_401_token_expired_and_an_unknown_one_stays_unauthorized() {
    let clock = ManualClock::starting_at(Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap());
    let keyward = Keyward::open_with(
        &Settings {
            database_url: "sqlite::memory:".into(),
            ..Settings::default()
        },
        OpenMode::CreateIfEmpty,
    )
    .await
    .unwrap()
    .with_clock(Arc::new(clock.clone()));
    let app = keyward_server::app(keyward.clone());
    let expires = keyward.tokens().parse_expiry("12h").unwrap();
    let (_, secret) = keyward
        .tokens()
        .create(
            "short",
            &Scopes::parse_list("read").unwrap(),
            expires,
            &Actor::Cli,
        )
        .await
        .unwrap();
    let secret = secret.expose().to_owned();
    let (status, _, _) =
        common::send(&app, "GET", "/api/v1/employees", Some(&secret), None, &[]).await;
    assert_eq!(status, StatusCode::OK);

    clock.advance(Duration::hours(12));
    let (status, body, headers) =
        common::send(&app, "GET", "/api/v1/employees", Some(&secret), None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "token_expired");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("expired at 2026-12-03T00:00:00"),
        "{message}"
    );
    assert!(!message.contains(&secret), "{message}");
    assert!(
        headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    // Without the right secret, an expired token's id tells nothing.
    let mut wrong = secret.clone();
    wrong.pop();
    wrong.push('x');
    let (status, body, _) =
        common::send(&app, "GET", "/api/v1/employees", Some(&wrong), None, &[]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
}

#[tokio::test]
async fn registration_is_rate_limited_per_client_address() {
    let settings = Settings {
        agent: keyward_service::AgentSettings {
            registration_burst: 2,
            registration_per_minute: 1,
            ..keyward_service::AgentSettings::default()
        },
        ..Settings::default()
    };
    let (keyward, app) = open(settings).await;
    let a = peer(1);
    for n in 0..2 {
        let (status, body) = register(&app, a, &json!({ "name": format!("WS-{n}") })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body, headers) = common::send_from(
        &app,
        a,
        "POST",
        "/api/v1/agent/register",
        None,
        Some(r#"{"name": "WS-2"}"#),
        // Without a trusted proxy, the header is ignored: the peer cannot pick an address.
        &[("x-forwarded-for", "203.0.113.50")],
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    let retry: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Malformed bodies count too (the bucket is checked before the body is read).
    let (status, _) = register(&app, a, &json!({ "nonsense": true })).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another address has its own budget.
    let (status, body) = register(&app, peer(2), &json!({ "name": "WS-B" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["source_address"], "192.0.2.2");

    let admin = token(&keyward, "admin", "admin").await;
    let (_, listed, _) =
        common::send(&app, "GET", "/api/v1/workstations", Some(&admin), None, &[]).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 3, "{listed}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_counts_and_is_recorded() {
    let proxy = SocketAddr::from(([10, 0, 0, 5], 443));
    let settings = Settings {
        agent: keyward_service::AgentSettings {
            registration_burst: 1,
            registration_per_minute: 1,
            trusted_proxies: vec![proxy.ip()],
            ..keyward_service::AgentSettings::default()
        },
        ..Settings::default()
    };
    let (_keyward, app) = open(settings).await;
    let via = |client: &'static str| {
        let app = app.clone();
        async move {
            common::send_from(
                &app,
                proxy,
                "POST",
                "/api/v1/agent/register",
                None,
                Some(r#"{"name": "WS-042"}"#),
                // The left entry is what the client claimed; the proxy appended the real one.
                &[("x-forwarded-for", &format!("198.51.100.1, {client}"))],
            )
            .await
        }
    };
    let (status, body, _) = via("203.0.113.7").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["source_address"], "203.0.113.7");
    let (status, _, _) = via("203.0.113.7").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, body, _) = via("203.0.113.8").await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "each client behind the proxy: {body}"
    );
}

#[tokio::test]
async fn a_registration_secret_is_required_when_configured_and_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registration-secret");
    std::fs::write(&path, "correct horse battery staple\n").unwrap();
    let settings = Settings {
        agent: keyward_service::AgentSettings {
            registration_secret_file: Some(path.clone()),
            ..keyward_service::AgentSettings::default()
        },
        ..Settings::default()
    };
    let (keyward, app) = open(settings).await;
    for (n, body) in [
        json!({ "name": "WS-1" }),
        json!({ "name": "WS-1", "registration_secret": "" }),
        json!({ "name": "WS-1", "registration_secret": "correct horse" }),
        json!({ "name": "WS-1", "registration_secret": "correct horse battery staple!" }),
    ]
    .iter()
    .enumerate()
    {
        let (status, answer) = register(&app, peer(u8::try_from(n).unwrap() + 10), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "registration_refused");
        assert!(!answer.to_string().contains("battery"), "{answer}");
    }
    let admin = token(&keyward, "admin", "admin").await;
    let (_, listed, _) =
        common::send(&app, "GET", "/api/v1/workstations", Some(&admin), None, &[]).await;
    assert_eq!(listed["items"], json!([]), "a refusal stores nothing");

    let (status, body) = register(
        &app,
        peer(20),
        &json!({ "name": "WS-1", "registration_secret": "correct horse battery staple" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A secret file that went missing refuses registration (never opens it).
    std::fs::remove_file(&path).unwrap();
    let (status, body) = register(
        &app,
        peer(21),
        &json!({ "name": "WS-2", "registration_secret": "correct horse battery staple" }),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(!body.to_string().contains("registration-secret"), "{body}");
}

/// Two workstations named alike are told apart by address and fingerprint; the fingerprint is
/// the start of the SHA-256 of the credential (what the agent computes), and the list pages.
#[tokio::test]
async fn workstations_show_address_and_fingerprint_and_the_list_pages() {
    let (keyward, app) = open(Settings::default()).await;
    let mut registered = Vec::new();
    for n in 0..3u8 {
        let (status, body) = register(&app, peer(30 + n), &json!({ "name": "WS-042" })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let credential = body["credential"].as_str().unwrap();
        let fingerprint = &sha256_hex(credential)[..8];
        assert_eq!(body["credential_fingerprint"], fingerprint);
        registered.push((body["workstation_id"].clone(), fingerprint.to_owned()));
    }
    assert_ne!(registered[0].1, registered[1].1);
    let admin = token(&keyward, "admin", "read").await;
    let mut seen = Vec::new();
    let mut uri = "/api/v1/workstations?limit=2".to_owned();
    loop {
        let (status, page, _) = common::send(&app, "GET", &uri, Some(&admin), None, &[]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page["items"].as_array().unwrap().len() <= 2);
        assert!(
            !page.to_string().contains("kww_"),
            "no credential is listed"
        );
        seen.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/api/v1/workstations?limit=2&after={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3);
    for (n, (ws, (id, fingerprint))) in seen.iter().zip(&registered).enumerate() {
        assert_eq!(&ws["id"], id, "registration order");
        assert_eq!(&ws["credential_fingerprint"], fingerprint.as_str());
        assert_eq!(ws["source_address"], format!("192.0.2.{}", 30 + n));
    }
    let (status, body, _) = common::send(
        &app,
        "GET",
        "/api/v1/workstations?after=not-a-cursor",
        Some(&admin),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _, _) = common::send(
        &app,
        "GET",
        "/api/v1/workstations?limit=0",
        Some(&admin),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
