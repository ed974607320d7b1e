//! The built `keyward-server` and `keyward` binaries together, on an SQLite file and on
//! PostgreSQL: the CLI prepares the database and a token, the server serves it, the CLI sees
//! what the API wrote, and SIGTERM stops the server cleanly.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::path::Path;
use std::process::{Command, Output};

#[path = "support/server.rs"]
mod server;

use keyward_test_support::{TestDb, bin_path, keyward_cli as keyward};
use serde_json::Value;
use server::Server;

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "keyward failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

async fn scenario(db: &TestDb) {
    let label = db.label;
    let migrated = json_of(&keyward(&db.url, &["migrate", "--output", "json"]));
    assert_eq!(
        migrated["applied_now"][0], "m20261125_000001_initial",
        "{label}"
    );
    let again = json_of(&keyward(&db.url, &["migrate", "--output", "json"]));
    assert_eq!(again["applied_now"], serde_json::json!([]), "{label}");

    let created = json_of(&keyward(
        &db.url,
        &[
            "token", "create", "--name", "e2e", "--scope", "admin", "--output", "json",
        ],
    ));
    let token = created["token"].as_str().unwrap().to_owned();
    let listed = keyward(&db.url, &["token", "list", "--output", "json"]);
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains(&token),
        "{label}: list never shows a secret"
    );

    let server = Server::start(&db.url);
    let http = reqwest::Client::new();
    let employees = format!("{}/api/v1/employees", server.base);

    let anonymous = http.get(&employees).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "{label}");
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let created = http
        .post(&employees)
        .bearer_auth(&token)
        .json(&serde_json::json!({ "email": "Grace@Example.com", "display_name": "Grace Hopper" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{label}");

    // The CLI sees what the API wrote, and the API what the CLI wrote.
    let list = json_of(&keyward(
        &db.url,
        &["employees", "list", "--output", "json"],
    ));
    assert_eq!(list[0]["email"], "grace@example.com", "{label}");
    assert_eq!(list[0]["accounts"], serde_json::json!([]), "{label}");
    json_of(&keyward(
        &db.url,
        &[
            "employees",
            "create",
            "--email",
            "linus@example.com",
            "--display-name",
            "Linus",
            "--output",
            "json",
        ],
    ));
    let page: Value = http
        .get(&employees)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{label}");
    let shown = json_of(&keyward(
        &db.url,
        &["employees", "show", "GRACE@example.com", "--output", "json"],
    ));
    assert_eq!(shown["display_name"], "Grace Hopper", "{label}");

    // Exit codes and JSON errors.
    let dup = keyward(
        &db.url,
        &[
            "employees",
            "create",
            "--email",
            "grace@example.com",
            "--display-name",
            "G",
            "--output",
            "json",
        ],
    );
    assert_eq!(dup.status.code(), Some(5), "{label}: conflict");
    let err: Value = serde_json::from_slice(&dup.stderr).unwrap();
    assert_eq!(err["error"]["code"], "conflict");
    assert_eq!(
        keyward(&db.url, &["employees", "show", "nobody@example.com"])
            .status
            .code(),
        Some(4),
        "{label}"
    );
    assert_eq!(
        keyward(
            &db.url,
            &[
                "employees",
                "create",
                "--email",
                "bad",
                "--display-name",
                "X"
            ]
        )
        .status
        .code(),
        Some(6),
        "{label}"
    );

    assert_eq!(
        http.get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("keyward_http_requests_total"), "{label}");

    // Revocation through the CLI takes effect on the running server.
    json_of(&keyward(
        &db.url,
        &["token", "revoke", "e2e", "--output", "json"],
    ));
    assert_eq!(
        http.get(&employees)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "{label}"
    );

    // Without [tls] there is nothing to reload, and SIGHUP (`systemctl reload`) must not end
    // the server.
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let health = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "{label}: still serving after SIGHUP");

    let status = server.terminate();
    assert!(
        status.success(),
        "{label}: SIGTERM is a clean shutdown, got {status}"
    );
}

#[tokio::test]
async fn server_and_cli_on_an_sqlite_file() {
    scenario(&TestDb::sqlite_file()).await;
}

#[tokio::test]
async fn server_and_cli_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        scenario(&db).await;
    }
}

#[test]
fn a_bad_config_file_is_one_line_naming_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keyward.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:8080\"\nlisen = \"typo\"\n").unwrap();
    for binary in ["keyward-server", "keyward"] {
        let mut cmd = Command::new(bin_path(binary));
        cmd.arg("--config").arg(&file);
        if binary == "keyward" {
            cmd.arg("migrate");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{binary}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{binary}: {stderr}");
        assert!(
            stderr.contains("lisen") && stderr.contains(&file.display().to_string()),
            "{binary}: {stderr}"
        );
    }
}

#[test]
fn a_broken_mail_template_stops_the_server_with_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(templates.join("invitation.html"), "<p>Hello {{ nmae }}</p>").unwrap();
    let file = dir.path().join("keyward.toml");
    std::fs::write(
        &file,
        format!(
            "database_url = \"sqlite://{}\"\n[mail]\ntemplates_dir = \"{}\"\n",
            dir.path().join("k.db").display(),
            templates.display()
        ),
    )
    .unwrap();
    let out = Command::new(bin_path("keyward-server"))
        .arg("--config")
        .arg(&file)
        .env_remove("KEYWARD_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    let path = templates.join("invitation.html").display().to_string();
    assert!(
        stderr.contains(&path) && stderr.contains("unknown placeholder `nmae`"),
        "{stderr}"
    );
    assert!(!dir.path().join("k.db").exists(), "nothing was opened");
}

#[test]
fn an_unreachable_database_is_exit_code_7() {
    let out = keyward("postgres://nobody@127.0.0.1:1/none", &["employees", "list"]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!Path::new("none").exists());
}

#[test]
fn the_key_lifecycle_through_the_cli() {
    let db = TestDb::sqlite_file().migrated();
    let url = db.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("keys.csv");
    std::fs::write(&csv, "serial,model\nst-100,HK2\n# a comment\nst-101,HK2\n").unwrap();
    let imported = json_of(&keyward(
        url,
        &[
            "keys",
            "import",
            "st-102",
            "--file",
            csv.to_str().unwrap(),
            "--output",
            "json",
        ],
    ));
    assert_eq!(imported.as_array().unwrap().len(), 3);
    json_of(&keyward(
        url,
        &[
            "employees",
            "create",
            "--email",
            "ada@example.com",
            "--display-name",
            "Ada",
            "--output",
            "json",
        ],
    ));

    let assigned = json_of(&keyward(
        url,
        &[
            "keys",
            "assign",
            "ST-100",
            "--employee",
            "ada@example.com",
            "--output",
            "json",
        ],
    ));
    let code = assigned["activation_code"].as_str().unwrap().to_owned();
    assert_eq!(assigned["status"], "reserved");

    // An administrator cannot activate the key: that would hand it to no workstation. The
    // refusal counts no attempt.
    let refused = keyward(
        url,
        &[
            "keys", "activate", "st-100", "--code", &code, "--output", "json",
        ],
    );
    assert_eq!(
        refused.status.code(),
        Some(5),
        "an admin activation is refused"
    );
    let err: Value = serde_json::from_slice(&refused.stderr).unwrap();
    assert_eq!(err["error"]["code"], "invalid_transition");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("workstation"),
        "{err}"
    );

    // The user types the code on their workstation (a simulated agent against the server).
    let server = Server::start(url);
    let state = dir.path().join("agent.json");
    let sim = |args: &[&str]| {
        Command::new(bin_path("keyward-agent-sim"))
            .args(["--server", &server.base, "--state-file"])
            .arg(&state)
            .args(args)
            .output()
            .unwrap()
    };
    let registered: Value =
        serde_json::from_slice(&sim(&["register", "--name", "WS-1"]).stdout).unwrap();
    let ws_id = registered["workstation_id"].as_str().unwrap().to_owned();
    json_of(&keyward(
        url,
        &["workstations", "approve", &ws_id, "--output", "json"],
    ));
    let wrong = sim(&["activate", "st-100", "00000000x"]);
    assert_eq!(wrong.status.code(), Some(1), "a wrong code is refused");
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("wrong_activation_code"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let active = sim(&["activate", "ST-100", &code]);
    assert!(
        active.status.success(),
        "{}",
        String::from_utf8_lossy(&active.stderr)
    );
    let active: Value = serde_json::from_slice(&active.stdout).unwrap();
    assert_eq!(active["status"], "active");
    drop(server);
    let shown = json_of(&keyward(
        url,
        &["keys", "show", "st-100", "--output", "json"],
    ));
    assert_eq!(shown["serial"], "ST-100");
    assert_eq!(shown["employee"]["email"], "ada@example.com");
    assert!(shown["employee"]["id"].is_string());
    assert_eq!(shown["reason"], Value::Null);

    let suspended = json_of(&keyward(
        url,
        &[
            "keys",
            "suspend",
            "st-100",
            "--description",
            "on leave",
            "--output",
            "json",
        ],
    ));
    let resume_code = suspended["activation_code"].as_str().unwrap().to_owned();
    json_of(&keyward(
        url,
        &[
            "keys",
            "activate",
            "st-100",
            "--code",
            &resume_code,
            "--output",
            "json",
        ],
    ));
    json_of(&keyward(
        url,
        &[
            "keys",
            "lock",
            "st-100",
            "--reason",
            "locked_by_invalid_pin",
            "--output",
            "json",
        ],
    ));
    let unlocked = json_of(&keyward(
        url,
        &["keys", "unlock", "st-100", "--output", "json"],
    ));
    assert_eq!(unlocked["status"], "suspended");
    assert!(unlocked["activation_code"].as_str().unwrap().len() >= 6);

    let refused = keyward(url, &["keys", "confirm-wipe", "st-100", "--output", "json"]);
    assert_eq!(
        refused.status.code(),
        Some(5),
        "a transition the table forbids is a conflict"
    );
    let err: Value = serde_json::from_slice(&refused.stderr).unwrap();
    assert_eq!(err["error"]["code"], "invalid_transition");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("suspended")
    );

    json_of(&keyward(
        url,
        &[
            "keys",
            "deactivate",
            "st-100",
            "--reason",
            "withdrawal",
            "--output",
            "json",
        ],
    ));
    json_of(&keyward(
        url,
        &["keys", "confirm-wipe", "st-100", "--output", "json"],
    ));
    let compromised = json_of(&keyward(
        url,
        &[
            "keys",
            "compromise",
            "st-100",
            "--reason",
            "lost",
            "--output",
            "json",
        ],
    ));
    assert_eq!(compromised["status"], "compromised");
    assert_eq!(compromised["reason"], "lost");
    json_of(&keyward(
        url,
        &["keys", "delete", "st-100", "--output", "json"],
    ));

    let history = json_of(&keyward(
        url,
        &["keys", "history", "st-100", "--output", "json"],
    ));
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "key.import",
            "key.assign",
            "key.activation_code_rejected",
            "key.activate",
            "key.suspend",
            "key.resume",
            "key.lock",
            "key.unlock",
            "key.deactivate",
            "key.confirm_wipe",
            "key.mark_compromised",
            "key.delete",
        ]
    );
    let text = String::from_utf8_lossy(
        &keyward(url, &["keys", "history", "st-100", "--output", "json"]).stdout,
    )
    .into_owned();
    for secret in [&code, &resume_code] {
        assert!(
            !text.contains(secret.as_str()),
            "the history never holds an activation code"
        );
    }
    let listed = json_of(&keyward(
        url,
        &["keys", "list", "--status", "ready", "--output", "json"],
    ));
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(
        keyward(url, &["keys", "show", "st-100"]).status.code(),
        Some(4)
    );
}

#[test]
fn a_key_list_file_from_a_spreadsheet_imports_and_a_bad_one_changes_nothing() {
    let db = TestDb::sqlite_file().migrated();
    let url = db.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };
    // A spreadsheet's "CSV UTF-8" export in a locale whose separator is `;`.
    let good = file(
        "excel.csv",
        "\u{feff}Model;\"Serial\";Note\r\nHK2;\"hk-1\";\"a; b\"\r\n\r\nHK2;hk-2;\r\n".as_bytes(),
    );
    let imported = json_of(&keyward(
        url,
        &["keys", "import", "--file", &good, "--output", "json"],
    ));
    let serials: Vec<&str> = imported
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials, ["HK-1", "HK-2"]);

    for (name, bytes, wanted) in [
        (
            "bad-serial.csv",
            &b"serial\nhk-3\nhk 4\n"[..],
            "line 3: \"hk 4\" is not a key serial",
        ),
        (
            "twice.csv",
            b"hk-3\nHK-3\n",
            "line 2: serial HK-3 is given twice",
        ),
        (
            "no-column.csv",
            b"id,model\n1,HK2\n",
            "no column is named `serial`",
        ),
        ("latin1.csv", b"serial,model\nhk-3,Ger\xe4t\n", "not UTF-8"),
    ] {
        let path = file(name, bytes);
        let out = keyward(url, &["keys", "import", "--file", &path]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(6), "{name}: {stderr}");
        assert!(
            stderr.contains(&path) && stderr.contains(wanted),
            "{name}: {stderr}"
        );
    }
    let listed = json_of(&keyward(url, &["keys", "list", "--output", "json"]));
    assert_eq!(listed.as_array().unwrap().len(), 2, "nothing else imported");
}

fn sim(server: &str, state: &Path, args: &[&str]) -> Output {
    Command::new(bin_path("keyward-agent-sim"))
        .env_remove("KEYWARD_AGENT_SERVER")
        .env_remove("KEYWARD_AGENT_STATE")
        .arg("--server")
        .arg(server)
        .arg("--state-file")
        .arg(state)
        .args(args)
        .output()
        .expect("run keyward-agent-sim")
}

/// Scoped, expiring tokens made with the CLI and used against the built server; a registration
/// secret, and the fingerprint and address the agent prints and `workstations list` shows.
#[tokio::test]
async fn scoped_tokens_and_guarded_registration_against_the_built_server() {
    let db = TestDb::sqlite_file();
    let dir = tempfile::tempdir().unwrap();
    json_of(&keyward(&db.url, &["migrate", "--output", "json"]));

    // A scope is required, must be known, and an expiry must be in the future; a refused
    // creation stores nothing.
    let missing = keyward(&db.url, &["token", "create", "--name", "noscope"]);
    assert_eq!(missing.status.code(), Some(2), "--scope is required");
    for (args, bad) in [
        (
            ["--scope", "everything", "--expires", "never"],
            "everything",
        ),
        (
            ["--scope", "read", "--expires", "2020-01-01T00:00:00Z"],
            "2020-01-01",
        ),
        (["--scope", "read", "--expires", "soon"], "soon"),
    ] {
        let out = keyward(
            &db.url,
            &[&["token", "create", "--name", "refused"][..], &args[..]].concat(),
        );
        assert_eq!(out.status.code(), Some(6), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(bad),
            "{args:?}: the error names the bad value: {err}"
        );
    }
    let reader = json_of(&keyward(
        &db.url,
        &[
            "token",
            "create",
            "--name",
            "reader",
            "--scope",
            "read,keys",
            "--expires",
            "30d",
            "--output",
            "json",
        ],
    ));
    assert_eq!(reader["scopes"], serde_json::json!(["read", "keys"]));
    assert!(reader["expires_at"].is_string(), "{reader}");
    let reader_token = reader["token"].as_str().unwrap().to_owned();
    let listed = json_of(&keyward(&db.url, &["token", "list", "--output", "json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["scopes"], serde_json::json!(["read", "keys"]));
    assert_eq!(listed[0]["expired"], false);
    let text = keyward(&db.url, &["token", "list"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("SCOPES") && text.contains("read,keys"),
        "{text}"
    );

    let secret_file = dir.path().join("registration-secret");
    std::fs::write(&secret_file, "e2e-registration-secret\n").unwrap();
    let server = Server::start_with_env(
        &db.url,
        &[(
            "KEYWARD_AGENT__REGISTRATION_SECRET_FILE",
            secret_file.to_str().unwrap(),
        )],
    );
    let state = dir.path().join("agent.json");

    // Without the secret: refused, nothing stored.
    let refused = sim(&server.base, &state, &["register", "--name", "WS-042"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("registration_refused"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let none = json_of(&keyward(
        &db.url,
        &["workstations", "list", "--output", "json"],
    ));
    assert_eq!(none, serde_json::json!([]));

    let registered = sim(
        &server.base,
        &state,
        &[
            "register",
            "--name",
            "WS-042",
            "--registration-secret-file",
            secret_file.to_str().unwrap(),
        ],
    );
    assert!(
        registered.status.success(),
        "{}",
        String::from_utf8_lossy(&registered.stderr)
    );
    let printed: Value = serde_json::from_slice(&registered.stdout).unwrap();
    let fingerprint = printed["credential_fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(fingerprint.len(), 8, "{printed}");
    assert_eq!(printed["source_address"], "127.0.0.1");
    assert!(!String::from_utf8_lossy(&registered.stdout).contains("kww_"));
    let listed = json_of(&keyward(
        &db.url,
        &["workstations", "list", "--output", "json"],
    ));
    assert_eq!(listed[0]["credential_fingerprint"], fingerprint.as_str());
    assert_eq!(listed[0]["source_address"], "127.0.0.1");
    let text = keyward(&db.url, &["workstations", "list"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains(&fingerprint));
    let id = printed["workstation_id"].as_str().unwrap().to_owned();

    // Over HTTP: the read,keys token cannot approve it; a workstations token can, and the
    // audit record names that token.
    let http = reqwest::Client::new();
    let approve = format!("{}/api/v1/workstations/{id}/approve", server.base);
    let answer = http
        .post(&approve)
        .bearer_auth(&reader_token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "insufficient_scope", "{body}");
    let status = sim(&server.base, &state, &["status"]);
    let me: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(me["status"], "pending", "{me}");

    let ops = json_of(&keyward(
        &db.url,
        &[
            "token",
            "create",
            "--name",
            "ws-ops",
            "--scope",
            "workstations",
            "--output",
            "json",
        ],
    ));
    let answer = http
        .post(&approve)
        .bearer_auth(ops["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let store = keyward_store::Store::connect(&db.url).await.unwrap();
    let audit = store
        .list_audit(Some(&format!("workstation:{id}")), 0, 100)
        .await
        .unwrap();
    let approval = audit
        .iter()
        .find(|r| r.record.action == "workstation.approved")
        .unwrap();
    assert_eq!(approval.record.actor, "token:ws-ops");
    assert_eq!(
        approval.record.detail["credential_fingerprint"],
        fingerprint.as_str()
    );
    assert_eq!(server.terminate().code(), Some(0));
}
