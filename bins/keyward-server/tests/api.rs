//! Handler tests without a socket: the whole app as a tower service on an in-memory database.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use axum::http::{StatusCode, header};
use keyward_service::{Actor, Keyward};
use serde_json::{Value, json};

struct Harness {
    app: axum::Router,
    token: String,
    keyward: Keyward,
}

async fn harness() -> Harness {
    let (keyward, token) = common::open_with_admin_token(&common::in_memory()).await;
    Harness {
        app: keyward_server::app(keyward.clone()),
        token,
        keyward,
    }
}

impl Harness {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value, axum::http::HeaderMap) {
        self.call_with(method, uri, token, body, &[]).await
    }

    /// [`Harness::call`] with more request headers.
    async fn call_with(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value, axum::http::HeaderMap) {
        common::send(&self.app, method, uri, token, body, headers).await
    }

    async fn admin(&self, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
        let (s, v, _) = self
            .call(method, uri, Some(&self.token.clone()), body)
            .await;
        (s, v)
    }
}

#[tokio::test]
async fn health_and_readiness_need_no_token() {
    let h = harness().await;
    assert_eq!(
        h.call("GET", "/healthz", None, None).await.0,
        StatusCode::OK
    );
    let (status, body, _) = h.call("GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "status": "ok" }));
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let h = harness().await;
    h.keyward.clone().close().await.unwrap();
    let (status, body, _) = h.call("GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
}

#[tokio::test]
async fn api_routes_refuse_missing_wrong_and_revoked_tokens_with_json_401() {
    let h = harness().await;
    let mut tampered = h.token.clone();
    tampered.pop();
    tampered.push('x');
    let routes = [
        ("GET", "/api/v1/employees"),
        ("POST", "/api/v1/employees"),
        (
            "GET",
            "/api/v1/employees/01a210d0-1ef4-750a-b561-900de409afd3",
        ),
    ];
    for (method, uri) in routes {
        for token in [None, Some("nonsense"), Some(tampered.as_str())] {
            let (status, body, headers) = h.call(method, uri, token, Some("{}")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} {token:?}");
            assert_eq!(body["error"]["code"], "unauthorized");
            assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        }
    }
    h.keyward
        .tokens()
        .revoke("admin", &Actor::Cli)
        .await
        .unwrap();
    let (status, _) = h.admin("GET", "/api/v1/employees", None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked token authenticates nothing"
    );
}

#[tokio::test]
async fn employees_create_show_list_and_their_errors() {
    let h = harness().await;
    let (status, created) = h
        .admin(
            "POST",
            "/api/v1/employees",
            Some(r#"{"email":" Ada@Example.com ","display_name":"Ada Lovelace"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["email"], "ada@example.com");
    assert_eq!(created["origin"], "manual");
    let id = created["id"].as_str().unwrap().to_owned();

    let (status, shown) = h
        .admin("GET", &format!("/api/v1/employees/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["display_name"], "Ada Lovelace");
    assert_eq!(shown["accounts"], json!([]));

    let (status, body) = h
        .admin(
            "POST",
            "/api/v1/employees",
            Some(r#"{"email":"ADA@example.com","display_name":"Again"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "conflict");

    for bad in [
        r#"{"email":"not-an-address","display_name":"X"}"#,
        r#"{"email":"x@example.com","display_name":"   "}"#,
        r#"{"email":"x@example.com"}"#,
        r#"{"email":"x@example.com","display_name":"X","admin":true}"#,
        r#"{"email": "#,
    ] {
        let (status, body) = h.admin("POST", "/api/v1/employees", Some(bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_input", "{bad}");
    }

    let (status, body) = h
        .admin(
            "GET",
            "/api/v1/employees/01a210d0-1ef4-750a-b561-900de409afd3",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = h.admin("GET", "/api/v1/employees/not-a-uuid", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, list) = h.admin("GET", "/api/v1/employees?limit=10", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "the failed creations left nothing behind"
    );
    assert_eq!(list["next_cursor"], Value::Null);
    for bad in ["?limit=0", "?limit=5000", "?limit=abc", "?after=garbage"] {
        let (status, body) = h
            .admin("GET", &format!("/api/v1/employees{bad}"), None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
}

#[tokio::test]
async fn cursor_paging_walks_every_employee_once() {
    let h = harness().await;
    for i in 0..7 {
        let body = format!(r#"{{"email":"p{i}@example.com","display_name":"P {i}"}}"#);
        assert_eq!(
            h.admin("POST", "/api/v1/employees", Some(&body)).await.0,
            StatusCode::CREATED
        );
    }
    let mut seen = Vec::new();
    let mut uri = "/api/v1/employees?limit=3".to_owned();
    loop {
        let (status, page) = h.admin("GET", &uri, None).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["email"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/v1/employees?limit=3&after={c}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).map(|i| format!("p{i}@example.com")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn cursor_paging_walks_every_key_once_in_its_status() {
    let h = harness().await;
    let serials: Vec<String> = (0..8).map(|i| format!("PG-{i}")).collect();
    let body = serde_json::json!({ "serials": serials }).to_string();
    assert_eq!(
        h.admin("POST", "/api/v1/keys", Some(&body)).await.0,
        StatusCode::CREATED
    );
    h.admin(
        "POST",
        "/api/v1/keys/PG-3/compromise",
        Some(r#"{"reason":"lost"}"#),
    )
    .await;
    let ready = walk_keys(&h, "/api/v1/keys?limit=3&status=ready").await;
    let expected: Vec<String> = serials.iter().filter(|s| *s != "PG-3").cloned().collect();
    assert_eq!(ready, expected);
    assert_eq!(walk_keys(&h, "/api/v1/keys?limit=3").await, serials);
    for bad in [
        "/api/v1/keys?after=not%20a%20serial",
        "/api/v1/keys?limit=0",
        "/api/v1/keys?limit=1001",
    ] {
        let (status, body) = h.admin("GET", bad, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
}

/// A 404 on a key route means the key of the path; an employee the body names that does not
/// exist is the body's fault (422, code `not_found`).
#[tokio::test]
async fn assigning_to_an_unknown_employee_is_422_and_an_unknown_key_404() {
    let h = harness().await;
    h.admin("POST", "/api/v1/keys", Some(r#"{"serials": ["AS-1"]}"#))
        .await;
    let body = r#"{"employee": "nobody@example.com"}"#;
    let (status, answer) = h
        .admin("POST", "/api/v1/keys/AS-1/assign", Some(body))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["code"], "not_found", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nobody@example.com"),
        "{answer}"
    );
    let (status, answer) = h
        .admin("POST", "/api/v1/keys/NO-SUCH/assign", Some(body))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, key) = h.admin("GET", "/api/v1/keys/AS-1", None).await;
    assert_eq!(
        (status, key["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
}

/// The serials of every page from `first` on, following `next_cursor`.
async fn walk_keys(h: &Harness, first: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut uri = first.to_owned();
    loop {
        let (status, page) = h.admin("GET", &uri, None).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3, "{page}");
        seen.extend(
            items
                .iter()
                .map(|k| k["serial"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("{first}&after={c}"),
            None => break,
        }
    }
    seen
}

#[tokio::test]
async fn sync_routes_answer_without_a_directory() {
    let h = harness().await;
    let (status, body) = h
        .admin("POST", "/api/v1/directories/corp9/sync", Some("{}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("corp9"));
    let (status, body) = h
        .admin(
            "POST",
            "/api/v1/directories/corp9/sync",
            Some(r#"{"fast": true}"#),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = h.admin("GET", "/api/v1/sync/runs", None).await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
    let (status, _) = h.admin("GET", "/api/v1/sync/runs/not-a-uuid", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = h
        .admin(
            "GET",
            "/api/v1/sync/runs/01a210d0-1ef4-750a-b561-900de409afd3",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_routes_are_json_404() {
    let h = harness().await;
    let (status, body, _) = h.call("GET", "/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let h = harness().await;
    h.admin(
        "GET",
        "/api/v1/employees/01a210d0-1ef4-750a-b561-900de409afd3",
        None,
    )
    .await;
    let (status, text, _) = h.call("GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap();
    assert!(
        text.contains(r#"keyward_http_requests_total{method="GET",route="/api/v1/employees/{employee}",status="404"} 1"#),
        "{text}"
    );
    assert!(!text.contains("01a210d0"), "raw ids never become labels");
    assert!(text.contains("keyward_build_info"));
}

#[tokio::test]
async fn metrics_report_keys_workstations_and_mail_from_the_database() {
    let h = harness().await;
    let actor = keyward_service::Actor::Cli;
    h.keyward
        .keys()
        .import(&["MX-1".into(), "MX-2".into(), "MX-3".into()], &actor)
        .await
        .unwrap();
    h.keyward.keys().delete("MX-3", &actor).await.unwrap();
    h.keyward.agent().register("WS-METRICS").await.unwrap();
    let (status, text, _) = h.call("GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap();
    for line in [
        r#"keyward_keys{status="ready"} 2"#,
        r#"keyward_workstations{status="pending"} 1"#,
        "keyward_rotations_stalled 0",
        r#"keyward_employees{status="manual"} 0"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
}

/// Every route the server answers is in the OpenAPI document, and every documented route answers.
#[tokio::test]
async fn openapi_document_lists_exactly_the_served_routes() {
    let h = harness().await;
    let (status, doc, _) = h.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let served = [
        ("GET", "/api/v1/employees"),
        ("GET", "/api/v1/employees/{employee}"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("GET", "/readyz"),
        ("POST", "/api/v1/employees"),
        ("GET", "/api/v1/keys"),
        ("POST", "/api/v1/keys"),
        ("GET", "/api/v1/keys/{serial}"),
        ("DELETE", "/api/v1/keys/{serial}"),
        ("GET", "/api/v1/keys/{serial}/history"),
        ("POST", "/api/v1/keys/{serial}/assign"),
        ("POST", "/api/v1/keys/{serial}/cancel"),
        ("POST", "/api/v1/keys/{serial}/activate"),
        ("POST", "/api/v1/keys/{serial}/resume"),
        ("POST", "/api/v1/keys/{serial}/lock"),
        ("POST", "/api/v1/keys/{serial}/suspend"),
        ("POST", "/api/v1/keys/{serial}/unlock"),
        ("POST", "/api/v1/keys/{serial}/deactivate"),
        ("POST", "/api/v1/keys/{serial}/confirm-wipe"),
        ("POST", "/api/v1/keys/{serial}/compromise"),
        ("POST", "/api/v1/directories/{name}/sync"),
        ("GET", "/api/v1/sync/runs"),
        ("GET", "/api/v1/sync/runs/{id}"),
        ("GET", "/api/v1/invitations"),
        ("POST", "/api/v1/invitations/{id}/resend"),
        ("POST", "/api/v1/invitations/{id}/revoke"),
        ("GET", "/enroll/{token}"),
        ("POST", "/enroll/{token}/accept"),
        ("GET", "/api/v1/workstations"),
        ("POST", "/api/v1/workstations/{id}/approve"),
        ("POST", "/api/v1/workstations/{id}/revoke"),
        ("GET", "/api/v1/passwords"),
        ("POST", "/api/v1/passwords/rotate"),
        ("POST", "/api/v1/passwords/set"),
        ("POST", "/api/v1/passwords/advance"),
        ("POST", "/api/v1/mail/send"),
        ("GET", "/api/v1/tokens"),
        ("POST", "/api/v1/tokens"),
        ("POST", "/api/v1/tokens/{name}/revoke"),
        ("GET", "/api/v1/admins"),
        ("POST", "/api/v1/admins"),
        ("POST", "/api/v1/admins/{email}/link"),
        ("POST", "/api/v1/admins/{email}/disable"),
        ("GET", "/api/v1/directories"),
        ("POST", "/api/v1/directories/{name}/test"),
        ("GET", "/api/v1/audit"),
        ("POST", "/api/v1/agent/register"),
        ("GET", "/api/v1/agent/me"),
        ("POST", "/api/v1/agent/keys/{serial}/seen"),
        ("POST", "/api/v1/agent/keys/{serial}/activate"),
        ("POST", "/api/v1/agent/keys/{serial}/proof"),
        ("POST", "/api/v1/agent/keys/{serial}/lock"),
        ("GET", "/api/v1/agent/keys/{serial}/pending"),
        ("POST", "/api/v1/agent/keys/{serial}/ack"),
        (
            "POST",
            "/api/v1/agent/keys/{serial}/accounts/{directory}/{object_guid}/password",
        ),
    ];
    let mut served: Vec<(String, String)> = served
        .iter()
        .map(|(m, p)| ((*m).into(), (*p).into()))
        .collect();
    served.sort();
    assert_eq!(documented, served);
    for (method, path) in &documented {
        let uri = path
            .replace("{id}", "01a210d0-1ef4-750a-b561-900de409afd3")
            .replace("{serial}", "NO-SUCH-KEY")
            .replace("{name}", "nodir")
            .replace("{directory}", "nodir")
            .replace("{object_guid}", "01a210d0-1ef4-750a-b561-900de409afd3")
            .replace("{token}", "no-such-token")
            .replace("{employee}", "nobody@example.com")
            .replace("{email}", "nobody@example.com");
        let (status, body) = h.admin(method, &uri, Some("{}")).await;
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED
                && !(status == StatusCode::NOT_FOUND
                    && body["error"]["message"]
                        .as_str()
                        .unwrap_or("")
                        .contains("no such route")),
            "{method} {path} is documented but not served: {status} {body}"
        );
    }
    assert!(doc["components"]["securitySchemes"]["admin_token"].is_object());
}

#[tokio::test]
async fn the_agent_api_needs_an_approved_workstation_credential() {
    let h = harness().await;
    let (status, body, _) = h
        .call(
            "POST",
            "/api/v1/agent/register",
            None,
            Some(r#"{"name": "WS-1"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "pending");
    let credential = body["credential"].as_str().unwrap().to_owned();
    let id = body["workstation_id"].as_str().unwrap().to_owned();
    let (status, _, _) = h
        .call(
            "POST",
            "/api/v1/agent/register",
            None,
            Some(r#"{"name": ""}"#),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // No credential, an admin token, a forged credential: 401.
    for token in [
        None,
        Some(h.token.as_str()),
        Some("kww_00000000000000000000000000000000_x"),
    ] {
        let (status, body, _) = h.call("GET", "/api/v1/agent/me", token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("workstation credential")
        );
    }
    // Pending: it may ask about itself, nothing else.
    let (status, body, _) = h
        .call("GET", "/api/v1/agent/me", Some(&credential), None)
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("pending"))
    );
    let (status, body, _) = h
        .call(
            "POST",
            "/api/v1/agent/keys/HK-1/seen",
            Some(&credential),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "workstation_not_approved");
    // A workstation credential is not an admin token.
    let (status, _, _) = h
        .call("GET", "/api/v1/workstations", Some(&credential), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, listed) = h.admin("GET", "/api/v1/workstations", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !listed.to_string().contains(&credential),
        "the credential is listed"
    );
    let (status, _) = h
        .admin("POST", &format!("/api/v1/workstations/{id}/approve"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = h
        .admin("POST", &format!("/api/v1/workstations/{id}/approve"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "approving twice");
    assert_eq!(body["error"]["code"], "workstation_state", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is approved and cannot become approved"),
        "{body}"
    );
    let (status, body, _) = h
        .call(
            "POST",
            "/api/v1/agent/keys/HK-1/seen",
            Some(&credential),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    h.admin("POST", "/api/v1/keys", Some(r#"{"serials": ["HK-1"]}"#))
        .await;
    let (status, body, _) = h
        .call(
            "GET",
            "/api/v1/agent/keys/HK-1/pending",
            Some(&credential),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "not held yet: {body}");
    assert_eq!(body["error"]["code"], "key_not_held");
    let (status, body, _) = h
        .call(
            "POST",
            "/api/v1/agent/keys/HK-1/seen",
            Some(&credential),
            None,
        )
        .await;
    // A key in stock has no proof: reporting it proves nothing, so it is not held.
    assert_eq!(
        (status, body["status"].as_str(), body["held"].as_bool()),
        (StatusCode::OK, Some("ready"), Some(false))
    );
    let (status, body, _) = h
        .call(
            "GET",
            "/api/v1/agent/keys/HK-1/pending",
            Some(&credential),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "still not held: {body}");

    let (status, _) = h
        .admin("POST", &format!("/api/v1/workstations/{id}/revoke"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, _) = h
        .call(
            "GET",
            "/api/v1/agent/keys/HK-1/pending",
            Some(&credential),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

/// Registers and approves a workstation; returns its credential.
async fn approved_workstation(h: &Harness, name: &str) -> String {
    let (status, body, _) = h
        .call(
            "POST",
            "/api/v1/agent/register",
            None,
            Some(&json!({ "name": name }).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["workstation_id"].as_str().unwrap();
    let (status, _) = h
        .admin("POST", &format!("/api/v1/workstations/{id}/approve"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    body["credential"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_active_key_moves_to_another_workstation_only_with_its_key_proof() {
    let h = harness().await;
    let (status, _) = h
        .admin(
            "POST",
            "/api/v1/employees",
            Some(r#"{"email": "kim@example.com", "display_name": "Kim"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    h.admin("POST", "/api/v1/keys", Some(r#"{"serials": ["HK-9"]}"#))
        .await;
    let (status, assigned) = h
        .admin(
            "POST",
            "/api/v1/keys/HK-9/assign",
            Some(r#"{"employee": "kim@example.com"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    let code = assigned["activation_code"].as_str().unwrap().to_owned();

    let first = approved_workstation(&h, "WS-1").await;
    let second = approved_workstation(&h, "WS-2").await;
    let seen = "/api/v1/agent/keys/HK-9/seen";
    // A Reserved key may be reported by anyone: the activation code is what counts.
    assert_eq!(
        h.call("POST", seen, Some(&second), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        h.call("POST", seen, Some(&first), None).await.0,
        StatusCode::OK
    );
    let (status, activated, _) = h
        .call(
            "POST",
            "/api/v1/agent/keys/HK-9/activate",
            Some(&first),
            Some(&json!({ "code": code }).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{activated}");
    assert_eq!(activated["status"], "active");
    let proof = activated["key_proof"].as_str().unwrap().to_owned();
    assert!(proof.starts_with("kwp_"), "{proof}");

    // The serial alone, or a wrong proof, does not move an Active key.
    for headers in [vec![], vec![("keyward-key-proof", "kwp_wrong")]] {
        let (status, body, _) = h
            .call_with("POST", seen, Some(&second), None, &headers)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["code"], "key_proof_required");
        assert!(!body.to_string().contains(&proof));
    }
    let pending = "/api/v1/agent/keys/HK-9/pending";
    assert_eq!(
        h.call("GET", pending, Some(&first), None).await.0,
        StatusCode::OK
    );
    // With the proof it moves.
    let (status, body, _) = h
        .call_with(
            "POST",
            seen,
            Some(&second),
            None,
            &[("Keyward-Key-Proof", &proof)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = h.call("GET", pending, Some(&first), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("key_not_held"))
    );
    // The new holder renews the proof; the old one no longer moves the key.
    let (status, renewed, _) = h
        .call("POST", "/api/v1/agent/keys/HK-9/proof", Some(&second), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_ne!(renewed["key_proof"].as_str().unwrap(), proof);
    let (status, _, _) = h
        .call_with(
            "POST",
            seen,
            Some(&first),
            None,
            &[("Keyward-Key-Proof", &proof)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Every refused takeover is in the key's history, without the proof.
    let (_, history) = h.admin("GET", "/api/v1/keys/HK-9/history", None).await;
    let text = history.to_string();
    assert_eq!(text.matches("key.takeover_refused").count(), 3, "{text}");
    assert!(!text.contains(&proof));
}

/// The sync routes answer typed reports in the document, not bare objects.
#[tokio::test]
async fn the_sync_report_is_a_typed_schema_in_the_document() {
    let h = harness().await;
    let (_, doc, _) = h.call("GET", "/api/v1/openapi.json", None, None).await;
    let body = |path: &str, method: &str| {
        doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
            .clone()
    };
    assert_eq!(
        body("/api/v1/directories/{name}/sync", "post")["$ref"],
        "#/components/schemas/SyncReport"
    );
    assert_eq!(
        body("/api/v1/sync/runs/{id}", "get")["$ref"],
        "#/components/schemas/SyncReport"
    );
    assert_eq!(
        body("/api/v1/sync/runs", "get")["items"]["$ref"],
        "#/components/schemas/RunSummary"
    );
    let schemas = &doc["components"]["schemas"];
    let report = &schemas["SyncReport"]["properties"];
    for field in [
        "run_id",
        "mode",
        "status",
        "read",
        "created",
        "splits",
        "held_accounts",
        "phases_ms",
        "outcomes",
    ] {
        assert!(
            report.get(field).is_some(),
            "SyncReport documents {field}: {report}"
        );
    }
    assert_eq!(schemas["RunMode"]["enum"], json!(["full", "incremental"]));
    assert_eq!(
        schemas["RunStatus"]["enum"],
        json!(["running", "succeeded", "failed"])
    );
    assert!(schemas["Outcome"]["properties"].get("reasons").is_some());
}

/// A body larger than the server accepts is 413 with the JSON error, and nothing is imported;
/// a method the route does not serve is 405 with `Allow`, before any token check.
#[tokio::test]
async fn an_oversized_body_is_413_and_an_unserved_method_405() {
    let h = harness().await;
    let serials: Vec<String> = (0..200_000).map(|n| format!("BIG-{n:08}")).collect();
    let body = serde_json::json!({ "serials": serials }).to_string();
    assert!(body.len() > 2 * 1024 * 1024, "{} bytes", body.len());
    let (status, answer) = h.admin("POST", "/api/v1/keys", Some(&body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_input", "{answer}");
    let (status, keys) = h.admin("GET", "/api/v1/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys["items"], serde_json::json!([]), "nothing imported");

    for token in [None, Some(h.token.as_str())] {
        let (status, _, headers) = h.call("PATCH", "/api/v1/keys", token, None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers[axum::http::header::ALLOW], "GET,HEAD,POST");
    }
}
