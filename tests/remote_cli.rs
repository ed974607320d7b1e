//! `keyward --server URL`: every administrative command through a running server's API prints
//! what the direct mode prints and exits with the same code; the remote-only failures (no
//! token, a refused token, an unreachable server, plain HTTP to another host, a local-only
//! command) have their own codes. Writes too: each change made directly on one database and
//! through a server on a twin prints the same once ids, times and secrets are masked. On an
//! SQLite file and on PostgreSQL.

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

/// Masks what two databases hold differently by nature, so that a write made directly on one
/// and the same write made through a server on the other print the same: ids, times,
/// activation codes, secrets and links, credential fingerprints. Runs of spaces become one
/// (a masked value changes a table's column widths).
fn masked(output: &str) -> String {
    let mut lines = Vec::new();
    for line in output.lines() {
        let line = if let Some((name, _)) = line.split_once("activation code: ") {
            format!("{name}activation code: <code>")
        } else if let Some((name, _)) = line.split_once("\"activation_code\": ") {
            format!("{name}\"activation_code\": <code>")
        } else {
            line.to_owned()
        };
        let words: Vec<String> = line
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(mask_word)
            .collect();
        lines.push(words.join(" "));
    }
    lines.join("\n")
}

/// One word (or a JSON line's `"key": "value",`) with its variable parts masked.
fn mask_word(word: &str) -> String {
    let mut out = String::new();
    let mut rest = word;
    while !rest.is_empty() {
        let token_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-_:.+/".contains(c)))
            .unwrap_or(rest.len());
        if token_end == 0 {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        out.push_str(&mask_token(&rest[..token_end]));
        rest = &rest[token_end..];
    }
    out
}

fn mask_token(token: &str) -> String {
    let is_uuid = |s: &str| {
        s.len() == 36
            && s.char_indices().all(|(i, c)| {
                if [8, 13, 18, 23].contains(&i) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    };
    let bytes = token.as_bytes();
    let is_time = bytes.len() >= 20
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && bytes[10] == b'T';
    if is_uuid(token) {
        "<uuid>".into()
    } else if is_time {
        "<time>".into()
    } else if token.starts_with("kw_") || token.contains("/console/enroll/") {
        "<secret>".into()
    } else if token.len() >= 8 && token.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
        "<fingerprint>".into()
    } else {
        token.to_owned()
    }
}

/// The activation code a write printed (`activation code: …` in text, `activation_code` in JSON).
fn code_in(stdout: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(stdout) {
        return v["activation_code"].as_str().unwrap().to_owned();
    }
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("activation code: "))
        .unwrap()
        .trim()
        .to_owned()
}

/// Writes: every change made directly on one database and through a server on another (a twin)
/// prints the same, in text and JSON, once [`masked`]; the agent's steps in between (register,
/// activate) run against each database's own server.
fn writes_print_the_same(here: &TestDb, there: &TestDb) {
    let label = here.label;
    for db in [here, there] {
        assert!(direct(db, &["migrate"]).status.success(), "{label}");
    }
    let token = json_of(&direct(
        there,
        &[
            "token", "create", "--name", "ops", "--scope", "admin", "--output", "json",
        ],
    ))["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The server on `here` serves only its agent; its administrator is the direct CLI.
    let here_server = Server::start(&here.url);
    let there_server = Server::start(&there.url);
    let state = tempfile::tempdir().unwrap();
    let sim = |server: &Server, name: &str, args: &[&str]| -> Value {
        let out = Command::new(bin_path("keyward-agent-sim"))
            .args(["--server", &server.base, "--state-file"])
            .arg(state.path().join(name))
            .args(args)
            .output()
            .unwrap();
        let (code, stdout, stderr) = text(&out);
        assert_eq!(code, 0, "{label}: agent-sim {args:?} on {name}: {stderr}");
        serde_json::from_str(&stdout).unwrap()
    };
    for format in ["text", "json"] {
        let p = &format[..1];
        // The same write in both modes (`args` for here, `there_args` for there when they
        // differ by an id or a code): the same exit code and masked output. The raw stdouts.
        let both = |args: &[&str], there_args: Option<&[&str]>| -> (String, String) {
            let mut mine = args.to_vec();
            mine.extend(["--output", format]);
            let mut theirs = there_args.unwrap_or(args).to_vec();
            theirs.extend(["--output", format]);
            let (code, out, err) = text(&direct(here, &mine));
            let (there_code, out_theirs, there_err) =
                text(&remote(&there_server.base, Some(&token), &theirs));
            assert_eq!(code, 0, "{label}: keyward {mine:?}: {err}");
            assert_eq!(
                (code, masked(&out), masked(&err)),
                (there_code, masked(&out_theirs), masked(&there_err)),
                "{label}: keyward {mine:?} --output {format}"
            );
            (out, out_theirs)
        };
        let ada = format!("{p}ada@example.com");
        let k1 = format!("{p}K-1");
        let k2 = format!("{p}K-2");
        let k3 = format!("{p}K-3");
        both(
            &[
                "employees",
                "create",
                "--email",
                &ada,
                "--display-name",
                "Ada",
            ],
            None,
        );
        both(&["keys", "import", &k1, &k2, &k3], None);
        both(&["keys", "assign", &k1, "--employee", &ada], None);
        both(&["keys", "cancel", &k1], None);
        let (assigned_mine, assigned_theirs) =
            both(&["keys", "assign", &k1, "--employee", &ada], None);

        // The user types the code on a workstation of each database.
        let (ws, there_ws) = (
            format!("here-{format}.json"),
            format!("there-{format}.json"),
        );
        let registered_mine = sim(&here_server, &ws, &["register", "--name", "WS-R"]);
        let registered_theirs = sim(&there_server, &there_ws, &["register", "--name", "WS-R"]);
        let (id_mine, id_theirs) = (
            registered_mine["workstation_id"].as_str().unwrap(),
            registered_theirs["workstation_id"].as_str().unwrap(),
        );
        both(
            &["workstations", "approve", id_mine],
            Some(&["workstations", "approve", id_theirs]),
        );
        sim(
            &here_server,
            &ws,
            &["activate", &k1, &code_in(&assigned_mine)],
        );
        sim(
            &there_server,
            &there_ws,
            &["activate", &k1, &code_in(&assigned_theirs)],
        );

        both(&["keys", "lock", &k1, "--reason", "admin"], None);
        let (out_mine, out_theirs) = both(&["keys", "unlock", &k1], None);
        let (a, b) = (code_in(&out_mine), code_in(&out_theirs));
        both(
            &["keys", "activate", &k1, "--code", &a],
            Some(&["keys", "activate", &k1, "--code", &b]),
        );
        let (out_mine, out_theirs) =
            both(&["keys", "suspend", &k1, "--description", "on leave"], None);
        let (a, b) = (code_in(&out_mine), code_in(&out_theirs));
        both(
            &["keys", "activate", &k1, "--code", &a],
            Some(&["keys", "activate", &k1, "--code", &b]),
        );
        both(&["keys", "deactivate", &k1, "--reason", "withdrawal"], None);
        both(&["keys", "compromise", &k2, "--reason", "lost"], None);
        both(&["keys", "delete", &k2], None);
        both(
            &[
                "admins",
                "create",
                "--email",
                &format!("{p}root@example.com"),
                "--name",
                "Root",
            ],
            None,
        );
        both(
            &[
                "token",
                "create",
                "--name",
                &format!("{p}ci"),
                "--scope",
                "read,keys",
            ],
            None,
        );
        both(&["token", "revoke", &format!("{p}ci")], None);
        both(
            &["workstations", "revoke", id_mine],
            Some(&["workstations", "revoke", id_theirs]),
        );
    }
    // The twin ended where the original did.
    let keys = |db: &TestDb, base: Option<&str>| {
        let out = match base {
            None => direct(db, &["keys", "list", "--output", "json"]),
            Some(base) => remote(base, Some(&token), &["keys", "list", "--output", "json"]),
        };
        masked(&text(&out).1)
    };
    assert_eq!(
        keys(here, None),
        keys(there, Some(&there_server.base)),
        "{label}"
    );
}

#[test]
fn writes_through_the_server_print_what_direct_writes_print_on_sqlite() {
    writes_print_the_same(&TestDb::sqlite_file(), &TestDb::sqlite_file());
}

#[tokio::test]
async fn writes_through_the_server_print_what_direct_writes_print_on_postgres() {
    let (Some(here), Some(there)) = (TestDb::postgres().await, TestDb::postgres().await) else {
        return;
    };
    writes_print_the_same(&here, &there);
}
