//! The built binary against a tiny in-process fake of the agent API: `sync` stores what is
//! pending, saves it and only then acknowledges; `--no-ack` does not acknowledge; a pending
//! workstation exits with code 3.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

const APPROVED: &str = "kww_approved_credential";
const PENDING: &str = "kww_pending_credential";
const PASSWORD: &str = "Rotated-Password-v3!";
const KEY_PROOF: &str = "kwp_fake-key-proof";

/// What the fake saw.
#[derive(Default)]
struct Fake {
    acks: Vec<Value>,
    /// The `Keyward-Key-Proof` header of each `seen` ("" when absent).
    proofs_seen: Vec<String>,
    /// Whether the state file held the write when the ack arrived.
    saved_before_ack: Vec<bool>,
    state_file: PathBuf,
}

type Shared = Arc<Mutex<Fake>>;
type Answer = Result<Json<Value>, (StatusCode, Json<Value>)>;

fn error(status: StatusCode, code: &str) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(json!({ "error": { "code": code, "message": format!("fake: {code}") } })),
    )
}

/// Approved credential only, as the server does for every key call.
fn approved(headers: &HeaderMap) -> Result<(), (StatusCode, Json<Value>)> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    match auth.and_then(|a| a.strip_prefix("Bearer ")) {
        Some(APPROVED) => Ok(()),
        Some(PENDING) => Err(error(StatusCode::FORBIDDEN, "workstation_not_approved")),
        _ => Err(error(StatusCode::UNAUTHORIZED, "unauthorized")),
    }
}

async fn register(Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let name = body["name"].as_str().unwrap().to_owned();
    let credential = if name == "WS-PENDING" {
        PENDING
    } else {
        APPROVED
    };
    let answer = json!({
        "workstation_id": "0193a7c4-5b1e-7000-8000-000000000042",
        "name": name,
        "status": "pending",
        "credential": credential,
    });
    (StatusCode::CREATED, Json(answer))
}

async fn seen(
    State(fake): State<Shared>,
    headers: HeaderMap,
    UrlPath(serial): UrlPath<String>,
) -> Answer {
    approved(&headers)?;
    let proof = headers
        .get("keyward-key-proof")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    fake.lock().unwrap().proofs_seen.push(proof.to_owned());
    Ok(Json(json!({ "serial": serial, "status": "reserved" })))
}

async fn activate(
    headers: HeaderMap,
    UrlPath(serial): UrlPath<String>,
    Json(body): Json<Value>,
) -> Answer {
    approved(&headers)?;
    if body["code"] != "12345678" {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_activation_code",
        ));
    }
    Ok(Json(
        json!({ "serial": serial, "status": "active", "key_proof": KEY_PROOF }),
    ))
}

/// Listed again until acknowledged, like the real server; the fake simply always lists it.
async fn pending(headers: HeaderMap, UrlPath(serial): UrlPath<String>) -> Answer {
    approved(&headers)?;
    Ok(Json(json!({
        "serial": serial,
        "status": "active",
        "commands": [],
        "accounts": [
            {"directory": "corp1", "object_guid": "9f1c", "login": "CORP1\\bob",
             "user_principal_name": "bob@corp1.test", "action": "write", "version": 3,
             "password": PASSWORD},
            {"directory": "corp1", "object_guid": "77aa", "login": "CORP1\\alice",
             "user_principal_name": null, "action": "remove", "version": 0}
        ]
    })))
}

async fn ack(State(fake): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Answer {
    approved(&headers)?;
    let mut fake = fake.lock().unwrap();
    let saved = std::fs::read_to_string(&fake.state_file).unwrap();
    fake.saved_before_ack.push(saved.contains(PASSWORD));
    let accepted = body["accounts"].as_array().unwrap().len();
    fake.acks.push(body);
    Ok(Json(json!({ "accepted": accepted })))
}

async fn start(state_file: &Path) -> (String, Shared) {
    let fake = Shared::new(Mutex::new(Fake {
        state_file: state_file.to_owned(),
        ..Fake::default()
    }));
    let app = Router::new()
        .route("/api/v1/agent/register", post(register))
        .route("/api/v1/agent/keys/{serial}/seen", post(seen))
        .route("/api/v1/agent/keys/{serial}/activate", post(activate))
        .route("/api/v1/agent/keys/{serial}/pending", get(pending))
        .route("/api/v1/agent/keys/{serial}/ack", post(ack))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fake)
}

/// Runs the binary; returns its exit code, stdout and stderr.
async fn sim(url: &str, state_file: &Path, args: &[&str]) -> (i32, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward-agent-sim"))
        .env_remove("KEYWARD_AGENT_SERVER")
        .env_remove("KEYWARD_AGENT_STATE")
        .arg("--server")
        .arg(url)
        .arg("--state-file")
        .arg(state_file)
        .args(args)
        .output()
        .await
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn sync_applies_saves_then_acknowledges_and_no_ack_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("agent.json");
    let (url, fake) = start(&state).await;

    let (code, out, err) = sim(&url, &state, &["register", "--name", "WS-042"]).await;
    assert_eq!(code, 0, "{err}");
    let registered: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(registered["status"], "pending");
    assert!(
        !out.contains(APPROVED),
        "the credential must not be printed"
    );
    let (code, _, err) = sim(&url, &state, &["register", "--name", "WS-042"]).await;
    assert_eq!(code, 4, "a second registration needs --force: {err}");

    let (code, _, err) = sim(&url, &state, &["activate", "hk-1", "00000000"]).await;
    assert_eq!(code, 1);
    assert!(err.starts_with("keyward-agent-sim: "), "{err}");
    assert!(err.contains("wrong_activation_code"), "{err}");
    let (code, out, err) = sim(&url, &state, &["activate", "hk-1", "12345678"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["status"],
        "active"
    );
    assert!(
        !out.contains(KEY_PROOF),
        "the key proof must not be printed"
    );

    let (code, out, err) = sim(&url, &state, &["sync", "--no-ack"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(PASSWORD), "sync must not print passwords");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report,
        json!([{"serial": "HK-1", "status": "active", "written": 1, "removed": 1,
                "wiped": false, "acknowledged": 0}])
    );
    assert!(fake.lock().unwrap().acks.is_empty());
    assert!(std::fs::read_to_string(&state).unwrap().contains(PASSWORD));

    let (code, out, err) = sim(&url, &state, &["sync"]).await;
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report[0]["acknowledged"], 2);
    {
        let fake = fake.lock().unwrap();
        assert_eq!(
            fake.acks,
            [json!({"wiped": false, "accounts": [
                {"directory": "corp1", "object_guid": "9f1c", "version": 3},
                {"directory": "corp1", "object_guid": "77aa", "version": 0}
            ]})]
        );
        assert_eq!(fake.saved_before_ack, [true]);
        // No proof before the key had one; the one the activation gave on every later `seen`.
        assert_eq!(fake.proofs_seen, ["", "", KEY_PROOF, KEY_PROOF]);
    }

    let (code, out, err) = sim(&url, &state, &["dump", "HK-1"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"serial": "HK-1", "wiped": false, "key_proof": KEY_PROOF, "accounts": [
            {"directory": "corp1", "object_guid": "9f1c", "login": "CORP1\\bob",
             "user_principal_name": "bob@corp1.test", "version": 3, "password": PASSWORD}
        ]})
    );
}

#[tokio::test]
async fn a_workstation_that_is_not_approved_exits_with_3() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("agent.json");
    let (url, _fake) = start(&state).await;
    let (code, _, err) = sim(&url, &state, &["register", "--name", "WS-PENDING"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = sim(&url, &state, &["activate", "HK-2", "12345678"]).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("workstation_not_approved"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let (code, _, err) = sim(&url, &dir.path().join("none.json"), &["sync"]).await;
    assert_eq!(code, 4, "not registered: {err}");
}
