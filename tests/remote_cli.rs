//! `keyward --server URL`: every administrative command through a running server's API prints
//! what the direct mode prints and exits with the same code; the remote-only failures (no
//! token, a refused token, an unreachable server, plain HTTP to another host, a local-only
//! command) have their own codes. On an SQLite file and on PostgreSQL.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

#[path = "support/server.rs"]
mod server;

use std::process::{Command, Output};

use keyward_test_support::{TestDb, bin_path, keyward_cli};
use serde_json::Value;
use server::Server;

/// `keyward ARGS` on the database directly.
fn direct(db: &TestDb, args: &[&str]) -> Output {
    keyward_cli(&db.url, args)
}

/// `keyward --server BASE ARGS` with `token` in `KEYWARD_TOKEN` (none: no token at all).
fn remote(base: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(bin_path("keyward"));
    command
        .args(args)
        .args(["--server", base])
        .env_remove("KEYWARD_CONFIG")
        .env_remove("KEYWARD_TOKEN")
        .env_remove("KEYWARD_TOKEN_FILE")
        .env_remove("KEYWARD_SERVER");
    if let Some(token) = token {
        command.env("KEYWARD_TOKEN", token);
    }
    command.output().expect("run keyward")
}

fn text(out: &Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_of(out: &Output) -> Value {
    let (code, stdout, stderr) = text(out);
    assert_eq!(code, 0, "keyward failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// The same command in both modes: the same exit code, stdout and stderr, in text and JSON.
fn same_in_both(db: &TestDb, base: &str, token: &str, args: &[&str]) -> String {
    let mut shown = String::new();
    for format in ["text", "json"] {
        let mut with_format = args.to_vec();
        with_format.extend(["--output", format]);
        let here = text(&direct(db, &with_format));
        let there = text(&remote(base, Some(token), &with_format));
        assert_eq!(
            here, there,
            "{}: keyward {args:?} --output {format}",
            db.label
        );
        if format == "text" {
            shown = here.1;
        }
    }
    shown
}

fn scenario(db: &TestDb) {
    let label = db.label;
    assert!(direct(db, &["migrate"]).status.success(), "{label}");
    let created = json_of(&direct(
        db,
        &[
            "token", "create", "--name", "ops", "--scope", "admin", "--output", "json",
        ],
    ));
    let token = created["token"].as_str().unwrap().to_owned();
    let reader = json_of(&direct(
        db,
        &[
            "token", "create", "--name", "viewer", "--scope", "read", "--output", "json",
        ],
    ))["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = Server::start(&db.url);
    let base = server.base.clone();
    let run = |args: &[&str]| json_of(&remote(&base, Some(&token), args));

    // Changes through the server, recorded under the token's name.
    let ada = run(&[
        "employees",
        "create",
        "--email",
        "ada@example.com",
        "--display-name",
        "Ada L",
        "--output",
        "json",
    ]);
    assert_eq!(ada["accounts"], serde_json::json!([]), "{label}: {ada}");
    let imported = run(&["keys", "import", "RM-1", "RM-2", "RM-3", "--output", "json"]);
    assert_eq!(imported.as_array().unwrap().len(), 3, "{label}");
    let assigned = run(&[
        "keys",
        "assign",
        "RM-1",
        "--employee",
        "ada@example.com",
        "--output",
        "json",
    ]);
    assert_eq!(assigned["status"], "reserved", "{label}: {assigned}");
    assert!(
        assigned["activation_code"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    let cancelled = run(&["keys", "cancel", "RM-1", "--output", "json"]);
    assert_eq!(cancelled["status"], "ready", "{label}: {cancelled}");
    let compromised = run(&[
        "keys",
        "compromise",
        "RM-3",
        "--reason",
        "lost",
        "--output",
        "json",
    ]);
    assert_eq!(compromised["status"], "compromised", "{label}");
    let deleted = run(&["keys", "delete", "RM-3", "--output", "json"]);
    assert_eq!(deleted["deleted"], true, "{label}");
    let link = run(&[
        "admins",
        "create",
        "--email",
        "root@example.com",
        "--name",
        "Root",
        "--output",
        "json",
    ]);
    assert!(
        link["enrollment_link"]
            .as_str()
            .unwrap()
            .contains("/console/enroll/")
    );
    let minted = run(&[
        "token",
        "create",
        "--name",
        "ci",
        "--scope",
        "sync,keys",
        "--expires",
        "30d",
        "--output",
        "json",
    ]);
    assert_eq!(
        minted["scopes"],
        serde_json::json!(["sync", "keys"]),
        "{label}"
    );
    run(&["token", "revoke", "ci", "--output", "json"]);
    let history = run(&["keys", "history", "RM-1", "--output", "json"]);
    let actors: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["actor"].as_str().unwrap())
        .collect();
    assert!(actors.contains(&"token:ops"), "{label}: {history}");

    // Every read prints the same in both modes.
    for args in [
        &["employees", "list"][..],
        &["employees", "show", "ada@example.com"],
        &["keys", "list"],
        &["keys", "list", "--status", "ready"],
        &["keys", "list", "--limit", "1"],
        &["keys", "list", "--limit", "1", "--after", "RM-1"],
        &["keys", "show", "rm-1"],
        &["keys", "history", "RM-1"],
        &["admins", "list"],
        &["invitations", "list"],
        &["workstations", "list"],
        &["workstations", "list", "--limit", "1"],
        &["passwords", "status"],
        &["directory", "list"],
        &["sync", "runs"],
        &["audit", "list", "--action", "key.", "--limit", "3"],
        &["audit", "export", "--format", "csv"],
        &[
            "audit",
            "export",
            "--format",
            "jsonl",
            "--actor",
            "token:ops",
        ],
    ] {
        same_in_both(db, &base, &token, args);
    }
    let keys = same_in_both(db, &base, &token, &["keys", "list"]);
    assert!(
        keys.contains("RM-1") && !keys.contains("RM-3"),
        "{label}: {keys}"
    );

    // Failures: the same code, the same message, the same exit code.
    for (args, exit) in [
        (&["keys", "show", "NOPE-1"][..], 4),
        (&["employees", "show", "nobody@example.com"], 4),
        (&["keys", "lock", "RM-2"], 5),
        (
            &[
                "employees",
                "create",
                "--email",
                "ada@example.com",
                "--display-name",
                "Ada",
            ],
            5,
        ),
        (
            &["keys", "assign", "RM-2", "--employee", "not an e-mail"],
            6,
        ),
        (
            &["token", "create", "--name", "bad", "--scope", "everything"],
            6,
        ),
        (&["sync", "nodir"], 4),
        (&["directory", "test", "nodir"], 4),
    ] {
        let (code, _, stderr) = text(&direct(db, args));
        assert_eq!(code, exit, "{label}: direct {args:?}: {stderr}");
        let failure = text(&remote(&base, Some(&token), args));
        assert_eq!(failure, text(&direct(db, args)), "{label}: {args:?}");
    }

    // What only the remote mode can meet.
    let (code, _, stderr) = text(&remote(&base, None, &["keys", "list"]));
    assert_eq!(code, 12, "{label}: no token: {stderr}");
    assert!(stderr.contains("KEYWARD_TOKEN"), "{stderr}");
    let (code, _, stderr) = text(&remote(&base, Some("kw_00000000_nope"), &["keys", "list"]));
    assert_eq!(code, 12, "{label}: a wrong token: {stderr}");
    assert!(
        !stderr.contains("kw_00000000_nope"),
        "the token is never echoed: {stderr}"
    );
    let (code, _, stderr) = text(&remote(&base, Some(&reader), &["keys", "import", "RM-9"]));
    assert_eq!(code, 12, "{label}: a read token imports: {stderr}");
    assert!(stderr.contains("`keys`"), "{stderr}");
    let (code, _, stderr) = text(&remote(&base, Some(&reader), &["keys", "list"]));
    assert_eq!(code, 0, "{label}: a read token reads: {stderr}");
    let (code, _, stderr) = text(&remote(
        "http://127.0.0.1:1",
        Some(&token),
        &["keys", "list"],
    ));
    assert_eq!(code, 11, "{label}: nobody listens: {stderr}");
    let (code, _, stderr) = text(&remote(
        "http://keyward.example.com",
        Some(&token),
        &["keys", "list"],
    ));
    assert_eq!(code, 3, "{label}: plain HTTP to another host: {stderr}");
    assert!(stderr.contains("https"), "{stderr}");
    for local in [
        &["migrate"][..],
        &["secrets", "check"],
        &["config", "check"],
    ] {
        let (code, _, stderr) = text(&remote(&base, Some(&token), local));
        assert_eq!(code, 2, "{label}: {local:?} is local: {stderr}");
    }
    // The token file, when the variable is not set.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let out = remote(
        &base,
        None,
        &[
            "keys",
            "show",
            "RM-2",
            "--output",
            "json",
            "--token-file",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(json_of(&out)["serial"], "RM-2", "{label}");

    let status = server.terminate();
    assert!(status.success(), "{label}: {status}");
}

#[test]
fn the_cli_through_the_server_on_an_sqlite_file() {
    scenario(&TestDb::sqlite_file());
}

#[tokio::test]
async fn the_cli_through_the_server_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        scenario(&db);
    }
}
