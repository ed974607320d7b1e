//! The sync routes against the real Samba AD lab.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use axum::http::StatusCode;
use keyward_directory::DirectoryConfig;
use keyward_service::Settings;
use serde_json::{Value, json};

#[tokio::test]
async fn a_sync_through_the_api_reports_and_is_listed() {
    let Some(lab) = keyward_test_support::lab() else {
        return;
    };
    let mut corp2 = DirectoryConfig::new(
        "corp2",
        vec![lab["KWLAB_AD2_LDAPS_URL"].clone()],
        &lab["KWLAB_AD2_BIND_DN"],
    );
    corp2.ca_file = Some(lab["KWLAB_AD2_CA_CERT"].clone().into());
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("bind-password");
    std::fs::write(&secret, format!("{}\n", lab["KWLAB_AD2_BIND_PASSWORD"])).unwrap();
    corp2.bind_password_file = Some(secret);
    let settings = Settings {
        database_url: "sqlite::memory:".into(),
        directories: vec![corp2],
        ..Settings::default()
    };
    let (keyward, token) = common::open_with_admin_token(&settings).await;
    let app = keyward_server::app(keyward);
    let call = |method: &str, uri: &str, body: Option<Value>| {
        let (app, token) = (app.clone(), token.clone());
        let (method, uri) = (method.to_owned(), uri.to_owned());
        async move {
            let body = body.map(|b| b.to_string());
            let (status, value, _) =
                common::send(&app, &method, &uri, Some(&token), body.as_deref(), &[]).await;
            (status, value)
        }
    };
    let (status, dry) = call(
        "POST",
        "/api/v1/directories/corp2/sync",
        Some(json!({ "dry_run": true })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert!(dry["created"].as_u64().unwrap() >= 3, "{dry}");
    let (status, run) = call("POST", "/api/v1/directories/corp2/sync", Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["mode"], "full");
    let (_, employees) = call("GET", "/api/v1/employees", None).await;
    assert!(
        employees["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["email"] == "grace@corp2.example.com")
    );
    let (_, runs) = call("GET", "/api/v1/sync/runs", None).await;
    assert_eq!(runs.as_array().unwrap().len(), 2);
    assert_eq!(runs[0]["status"], "succeeded", "{runs}");
    assert_eq!(runs[0]["mode"], "full", "{runs}");
    let id = run["run_id"].as_str().unwrap();
    let (status, shown) = call("GET", &format!("/api/v1/sync/runs/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["run_id"], run["run_id"]);
}
