//! Every (status, event) pair of docs/product.md §2 through the HTTP API: allowed pairs reach the
//! table's status, every other pair is 409 `invalid_transition` (404 for a key that does not
//! exist, 409 `conflict` for importing a serial twice).

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::match_same_arms,
    clippy::single_match_else
)]

mod common;

use axum::http::StatusCode;
use serde_json::{Value, json};

struct Api {
    app: axum::Router,
    token: String,
    /// An approved workstation's credential: users type activation codes there.
    workstation: String,
    next_person: std::cell::Cell<u32>,
}

impl Api {
    async fn new() -> Self {
        let (keyward, token) = common::open_with_admin_token(&common::in_memory()).await;
        let app = keyward_server::app(keyward);
        let (_, registered, _) = common::send(
            &app,
            "POST",
            "/api/v1/agent/register",
            None,
            Some(r#"{"name": "WS-1"}"#),
            &[],
        )
        .await;
        let api = Self {
            app,
            token,
            workstation: registered["credential"].as_str().unwrap().to_owned(),
            next_person: std::cell::Cell::new(0),
        };
        let id = registered["workstation_id"].as_str().unwrap().to_owned();
        api.ok("POST", &format!("/api/v1/workstations/{id}/approve"), None)
            .await;
        api
    }

    /// The user types `code` for `serial` on the workstation (the table's activate event).
    async fn type_code(&self, serial: &str, code: &str) -> (StatusCode, Value) {
        let body = json!({ "code": code }).to_string();
        let (status, value, _) = common::send(
            &self.app,
            "POST",
            &format!("/api/v1/agent/keys/{serial}/activate"),
            Some(&self.workstation),
            Some(&body),
            &[],
        )
        .await;
        (status, value)
    }

    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let body = body.map(|b| b.to_string());
        let (status, value, _) = common::send(
            &self.app,
            method,
            uri,
            Some(&self.token),
            body.as_deref(),
            &[],
        )
        .await;
        (status, value)
    }

    async fn ok(&self, method: &str, uri: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, uri, body).await;
        assert!(status.is_success(), "{method} {uri}: {status} {value}");
        value
    }

    async fn new_employee(&self) -> String {
        let n = self.next_person.get();
        self.next_person.set(n + 1);
        let email = format!("person{n}@example.com");
        self.ok(
            "POST",
            "/api/v1/employees",
            Some(json!({ "email": email, "display_name": format!("Person {n}") })),
        )
        .await;
        email
    }

    /// Brings a new key into `status`; returns the live activation code where there is one.
    async fn key_in(&self, serial: &str, status: &str) -> Option<String> {
        self.ok("POST", "/api/v1/keys", Some(json!({ "serials": [serial] })))
            .await;
        let k = |op: &str| format!("/api/v1/keys/{serial}/{op}");
        let mut code = None;
        if matches!(
            status,
            "reserved" | "active" | "locked" | "suspended" | "deactivated"
        ) {
            let employee = self.new_employee().await;
            let assigned = self
                .ok("POST", &k("assign"), Some(json!({ "employee": employee })))
                .await;
            code = Some(assigned["activation_code"].as_str().unwrap().to_owned());
        }
        if matches!(status, "active" | "locked" | "suspended" | "deactivated") {
            let (http, body) = self.type_code(serial, &code.take().unwrap()).await;
            assert!(http.is_success(), "activating {serial}: {http} {body}");
        }
        match status {
            "locked" => {
                self.ok(
                    "POST",
                    &k("lock"),
                    Some(json!({ "reason": "locked_by_invalid_pin" })),
                )
                .await;
            }
            "suspended" => {
                let s = self
                    .ok(
                        "POST",
                        &k("suspend"),
                        Some(json!({ "description": "on leave" })),
                    )
                    .await;
                code = Some(s["activation_code"].as_str().unwrap().to_owned());
            }
            "deactivated" => {
                self.ok(
                    "POST",
                    &k("deactivate"),
                    Some(json!({ "reason": "withdrawal" })),
                )
                .await;
            }
            "compromised" => {
                self.ok("POST", &k("compromise"), Some(json!({ "reason": "lost" })))
                    .await;
            }
            _ => {}
        }
        let shown = self
            .ok("GET", &format!("/api/v1/keys/{serial}"), None)
            .await;
        assert_eq!(shown["status"], status, "setting up {serial}");
        code
    }

    /// Sends `event` to the key; returns the final HTTP status and body.
    async fn send(&self, serial: &str, event: &str, code: Option<&str>) -> (StatusCode, Value) {
        let k = |op: &str| format!("/api/v1/keys/{serial}/{op}");
        let right = code.unwrap_or("00000000").to_owned();
        match event {
            "import" => {
                self.call("POST", "/api/v1/keys", Some(json!({ "serials": [serial] })))
                    .await
            }
            "assign" => {
                let employee = self.new_employee().await;
                self.call("POST", &k("assign"), Some(json!({ "employee": employee })))
                    .await
            }
            "cancel_issuance" => self.call("POST", &k("cancel"), None).await,
            "activate" => {
                // Whatever the status, an administrator's activate route never activates (a
                // Reserved key would be handed to no workstation); a Reserved key is activated
                // by the code typed on the workstation. (The agent's call resumes a Suspended
                // key: that is the table's resume event.)
                let admin = self
                    .call("POST", &k("activate"), Some(json!({ "code": right })))
                    .await;
                if self.status(serial).await == "reserved" {
                    assert_eq!(admin.0, StatusCode::CONFLICT, "admin activate: {}", admin.1);
                    self.type_code(serial, &right).await
                } else {
                    admin
                }
            }
            "resume" => {
                self.call("POST", &k("resume"), Some(json!({ "code": right })))
                    .await
            }
            "fail_activation" => {
                // Wrong codes until the attempts run out (or the status refuses the first one).
                let op = if code.is_some() && self.status(serial).await == "suspended" {
                    "resume"
                } else {
                    "activate"
                };
                let wrong: String = right
                    .chars()
                    .map(|c| if c == '9' { '0' } else { '9' })
                    .collect();
                let mut last = (StatusCode::OK, Value::Null);
                for _ in 0..3 {
                    last = if op == "activate" {
                        self.type_code(serial, &wrong).await
                    } else {
                        self.call("POST", &k(op), Some(json!({ "code": wrong })))
                            .await
                    };
                    if last.1["error"]["code"] != "wrong_activation_code" {
                        break;
                    }
                }
                last
            }
            "lock" => {
                self.call(
                    "POST",
                    &k("lock"),
                    Some(json!({ "reason": "locked_by_invalid_pin" })),
                )
                .await
            }
            "suspend" => {
                self.call("POST", &k("suspend"), Some(json!({ "description": "x" })))
                    .await
            }
            "unlock" => self.call("POST", &k("unlock"), None).await,
            "deactivate" => {
                self.call(
                    "POST",
                    &k("deactivate"),
                    Some(json!({ "reason": "broken" })),
                )
                .await
            }
            "confirm_wipe" => self.call("POST", &k("confirm-wipe"), None).await,
            "mark_compromised" => {
                self.call(
                    "POST",
                    &k("compromise"),
                    Some(json!({ "reason": "stolen" })),
                )
                .await
            }
            "delete" => {
                self.call("DELETE", &format!("/api/v1/keys/{serial}"), None)
                    .await
            }
            other => panic!("unknown event {other}"),
        }
    }

    async fn status(&self, serial: &str) -> String {
        let (status, body) = self
            .call("GET", &format!("/api/v1/keys/{serial}"), None)
            .await;
        if status == StatusCode::NOT_FOUND {
            return "deleted".into();
        }
        body["status"].as_str().unwrap().to_owned()
    }
}

const STATUSES: [&str; 7] = [
    "ready",
    "reserved",
    "active",
    "locked",
    "suspended",
    "deactivated",
    "compromised",
];
const EVENTS: [&str; 13] = [
    "import",
    "assign",
    "cancel_issuance",
    "activate",
    "fail_activation",
    "lock",
    "suspend",
    "resume",
    "unlock",
    "deactivate",
    "confirm_wipe",
    "mark_compromised",
    "delete",
];

/// docs/product.md §2: the status each allowed (status, event) pair leads to.
fn allowed(status: &str, event: &str) -> Option<&'static str> {
    Some(match (status, event) {
        ("ready", "assign") => "reserved",
        ("reserved", "cancel_issuance") => "ready",
        ("reserved", "activate") | ("suspended", "resume") => "active",
        ("reserved" | "suspended", "fail_activation") | ("active", "lock") => "locked",
        ("active", "suspend") | ("locked", "unlock") => "suspended",
        ("reserved" | "active" | "locked" | "suspended", "deactivate") => "deactivated",
        ("deactivated", "confirm_wipe") => "ready",
        (
            "ready" | "reserved" | "active" | "locked" | "suspended" | "deactivated",
            "mark_compromised",
        ) => "compromised",
        ("ready" | "compromised", "delete") => "deleted",
        _ => return None,
    })
}

#[tokio::test]
async fn every_status_event_pair_follows_the_table() {
    let api = Api::new().await;
    let mut checked = 0;
    for (si, status) in STATUSES.iter().enumerate() {
        for (ei, event) in EVENTS.iter().enumerate() {
            let serial = format!("K{si}E{ei}");
            let code = api.key_in(&serial, status).await;
            let key_uri = format!("/api/v1/keys/{serial}");
            let history_uri = format!("/api/v1/keys/{serial}/history");
            let key_before = api.call("GET", &key_uri, None).await;
            let history_before = api.call("GET", &history_uri, None).await;
            let (http, body) = api.send(&serial, event, code.as_deref()).await;
            let after = api.status(&serial).await;
            match allowed(status, event) {
                Some(to) => {
                    if *event == "fail_activation" {
                        assert_eq!(
                            http,
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "{status}+{event}: {body}"
                        );
                        assert_eq!(body["error"]["code"], "activation_attempts_exhausted");
                    } else {
                        assert!(http.is_success(), "{status}+{event}: {http} {body}");
                    }
                    assert_eq!(after, to, "{status}+{event}");
                }
                None => {
                    let expected_code = if *event == "import" {
                        "conflict"
                    } else {
                        "invalid_transition"
                    };
                    assert_eq!(http, StatusCode::CONFLICT, "{status}+{event}: {body}");
                    assert_eq!(
                        body["error"]["code"], expected_code,
                        "{status}+{event}: {body}"
                    );
                    assert_eq!(
                        after, *status,
                        "{status}+{event}: a refused event changes nothing"
                    );
                    assert_eq!(
                        api.call("GET", &key_uri, None).await,
                        key_before,
                        "{status}+{event}: the refused key is unchanged (owner, holder, version)"
                    );
                    assert_eq!(
                        api.call("GET", &history_uri, None).await,
                        history_before,
                        "{status}+{event}: a refused event writes no audit record"
                    );
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 91);
}

#[tokio::test]
async fn unknown_keys_are_404_and_bad_input_is_422() {
    let api = Api::new().await;
    for event in EVENTS.iter().filter(|e| **e != "import") {
        let (http, body) = api.send("NOPE", event, None).await;
        assert_eq!(http, StatusCode::NOT_FOUND, "{event}: {body}");
    }
    let (http, _) = api.call("GET", "/api/v1/keys/NOPE/history", None).await;
    assert_eq!(http, StatusCode::NOT_FOUND);
    api.key_in("K1", "active").await;
    for (uri, body) in [
        ("/api/v1/keys/K1/lock", json!({ "reason": "stolen" })),
        ("/api/v1/keys/K1/lock", json!({ "reason": "whatever" })),
        ("/api/v1/keys/K1/deactivate", json!({})),
        ("/api/v1/keys/K1/compromise", json!({ "reason": "broken" })),
        ("/api/v1/keys", json!({ "serials": ["bad serial"] })),
        ("/api/v1/keys", json!({ "serials": [] })),
    ] {
        let (http, resp) = api.call("POST", uri, Some(body.clone())).await;
        assert_eq!(
            http,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{uri} {body}: {resp}"
        );
    }
    assert_eq!(api.status("K1").await, "active");
    let (http, _) = api.call("GET", "/api/v1/keys?status=bogus", None).await;
    assert_eq!(http, StatusCode::UNPROCESSABLE_ENTITY);
    let (http, body) = api.call("GET", "/api/v1/keys?status=active", None).await;
    assert_eq!(http, StatusCode::OK);
    assert_eq!(body["items"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["next_cursor"], serde_json::Value::Null);
    let body = &body["items"];
    assert_eq!(body[0]["serial"], "K1");
    assert!(
        body[0]["employee"]["email"]
            .as_str()
            .unwrap()
            .ends_with("@example.com")
    );
}

#[tokio::test]
async fn history_lists_the_key_transitions() {
    let api = Api::new().await;
    api.key_in("H1", "suspended").await;
    let history = api.ok("GET", "/api/v1/keys/H1/history", None).await;
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["key.import", "key.assign", "key.activate", "key.suspend"]
    );
    // The activation is the workstation's (the code typed there); the rest the token's.
    for record in history.as_array().unwrap() {
        if record["action"] == "key.activate" {
            assert!(
                record["actor"]
                    .as_str()
                    .unwrap()
                    .starts_with("workstation:"),
                "{record}"
            );
        } else {
            assert_eq!(record["actor"], "token:admin", "{record}");
        }
    }
}
