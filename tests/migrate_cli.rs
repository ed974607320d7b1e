//! Only `keyward migrate` changes the schema (issue 14, item 2): the built CLI and server on
//! SQLite files one migration behind, migrated by a newer keyward, and empty. Every other
//! command and the server refuse a schema that is not this build's with one line naming what to
//! run, and leave the database as it was; `migrate --status` and `--dry-run` change nothing.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use keyward_store::{SchemaState, SchemaStatus, Store};
use keyward_test_support::{TestDb, bin_path, keyward_cli as keyward};
use serde_json::Value;

/// A migration no keyward knows, as a newer keyward would have recorded it.
const FUTURE: &str = "m20991231_000099_from_the_future";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

/// Asserts the exit code and that stderr is exactly one line containing `says`.
fn refused(out: &Output, code: i32, says: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(says), "{err}");
}

async fn status(db: &TestDb) -> SchemaStatus {
    let store = Store::connect(&db.url).await.unwrap();
    let status = store.schema_status().await.unwrap();
    store.close().await.unwrap();
    status
}

/// Every migration but the last; returns the missing one's name.
async fn one_migration_behind(db: &TestDb) -> String {
    let store = Store::connect(&db.url).await.unwrap();
    loop {
        let (_, pending) = store.migration_status().await.unwrap();
        if pending.len() == 1 {
            store.close().await.unwrap();
            return pending[0].clone();
        }
        store.migrate_one_step().await.unwrap();
    }
}

/// Runs `keyward-server` on `db_url`, expecting it to refuse at start: returns its stderr.
fn server_refuses(db_url: &str) -> (Option<i32>, String) {
    let mut child = Command::new(bin_path("keyward-server"))
        .args(["--listen", "127.0.0.1:0", "--database-url", db_url])
        .env_remove("KEYWARD_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start keyward-server");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("keyward-server started on a schema it should refuse");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), stderr(&out))
}

#[tokio::test]
async fn a_schema_one_migration_behind_is_refused_by_commands_and_the_server_until_migrate() {
    let db = TestDb::sqlite_file();
    let missing = one_migration_behind(&db).await;
    let before = status(&db).await;
    assert_eq!(before.state(), SchemaState::Behind);

    // Any other command: exit 9, one line naming the migration and the command.
    let out = keyward(&db.url, &["employees", "list"]);
    refused(
        &out,
        9,
        &format!(
            "keyward: the database schema is 1 migration behind this keyward ({missing}): run \
             `keyward migrate` first"
        ),
    );
    let out = keyward(&db.url, &["token", "list", "--output", "json"]);
    assert_eq!(out.status.code(), Some(9));
    let err: Value = serde_json::from_str(stderr(&out).trim()).unwrap();
    assert_eq!(err["error"]["code"], "schema_behind", "{err}");
    assert!(stdout(&out).is_empty());
    assert_eq!(
        status(&db).await,
        before,
        "a refused command changed the schema"
    );

    // The server refuses too, in one line naming the command.
    let (code, err) = server_refuses(&db.url);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with(
            "keyward-server: cannot open the database: the database schema is 1 \
             migration behind"
        ) && err.contains("run `keyward migrate` first"),
        "{err}"
    );
    assert_eq!(status(&db).await, before, "the server changed the schema");

    // --status: the list, then exit 9 with the same line on stderr.
    let out = keyward(&db.url, &["migrate", "--status"]);
    refused(&out, 9, "run `keyward migrate` first");
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "schema behind: {} applied, 1 pending, 0 unknown (sqlite)\n",
            before.applied.len()
        )),
        "{text}"
    );
    assert!(text.contains(&format!("pending  {missing}")), "{text}");
    assert!(
        text.contains(&format!("applied  {}", before.applied[0])),
        "{text}"
    );
    let out = keyward(&db.url, &["migrate", "--status", "--output", "json"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    let shown = json(&out);
    assert_eq!(shown["state"], "behind", "{shown}");
    assert_eq!(shown["backend"], "sqlite", "{shown}");
    assert_eq!(shown["pending"], serde_json::json!([missing]), "{shown}");
    assert_eq!(
        shown["applied"],
        serde_json::json!(before.applied),
        "{shown}"
    );
    assert_eq!(shown["unknown"], serde_json::json!([]), "{shown}");

    // --dry-run lists what would be applied and changes nothing.
    let out = keyward(&db.url, &["migrate", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("would apply {missing}\n"));
    let out = keyward(&db.url, &["migrate", "--dry-run", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = json(&out);
    assert_eq!(
        shown["would_apply"],
        serde_json::json!([missing]),
        "{shown}"
    );
    assert_eq!(shown["dry_run"], true, "{shown}");
    assert_eq!(
        status(&db).await,
        before,
        "--status or --dry-run changed the schema"
    );
    assert_eq!(
        keyward(&db.url, &["migrate", "--status", "--dry-run"])
            .status
            .code(),
        Some(2),
        "--status and --dry-run together are a usage error"
    );

    // `keyward migrate` applies it; then everything works and --status exits 0.
    let out = keyward(&db.url, &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("applied {missing}\n"));
    assert_eq!(status(&db).await.state(), SchemaState::Current);
    let out = keyward(&db.url, &["migrate", "--status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("schema current: "),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).is_empty());
    let out = keyward(&db.url, &["employees", "list", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn a_schema_a_newer_keyward_migrated_is_refused_with_exit_10_even_by_migrate() {
    let db = TestDb::sqlite_file();
    let out = keyward(&db.url, &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    keyward_test_support::execute_sql(
        &db.url,
        &format!("INSERT INTO seaql_migrations (version, applied_at) VALUES ('{FUTURE}', 0)"),
    )
    .await;
    let before = status(&db).await;
    assert_eq!(before.state(), SchemaState::Ahead);

    let says = format!(
        "the database schema was migrated by a newer keyward (unknown {FUTURE}): upgrade this \
         keyward or use the matching version"
    );
    for args in [
        &["employees", "list"][..],
        &["keys", "list"],
        &["migrate"],
        &["migrate", "--dry-run"],
    ] {
        let out = keyward(&db.url, args);
        refused(&out, 10, &says);
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
    }
    let out = keyward(&db.url, &["migrate", "--status", "--output", "json"]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let shown = json(&out);
    assert_eq!(shown["state"], "ahead", "{shown}");
    assert_eq!(shown["unknown"], serde_json::json!([FUTURE]), "{shown}");
    let err: Value = serde_json::from_str(stderr(&out).trim()).unwrap();
    assert_eq!(err["error"]["code"], "schema_ahead", "{err}");

    let (code, err) = server_refuses(&db.url);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&says), "{err}");
    assert_eq!(status(&db).await, before, "a refusal changed the schema");
}

#[tokio::test]
async fn an_empty_database_is_refused_by_commands_and_created_by_the_server() {
    let db = TestDb::sqlite_file();
    let out = keyward(
        &db.url,
        &["token", "create", "--name", "x", "--scope", "admin"],
    );
    refused(
        &out,
        9,
        "the database has no keyward schema yet: run `keyward migrate` first",
    );
    let out = keyward(&db.url, &["migrate", "--status", "--output", "json"]);
    assert_eq!(out.status.code(), Some(9));
    assert_eq!(json(&out)["state"], "empty");
    let empty = status(&db).await;
    assert_eq!(empty.state(), SchemaState::Empty);
    assert!(!empty.has_tables, "a refused command created tables");

    // The README's quick start: the server's first start on a new database creates the schema.
    let mut server = Command::new(bin_path("keyward-server"))
        .args(["--listen", "127.0.0.1:0", "--database-url", &db.url])
        .env_remove("KEYWARD_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start keyward-server");
    let lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let listening = lines
        .map_while(Result::ok)
        .any(|line| line.contains("listening on http://"));
    server.kill().ok();
    server.wait().ok();
    assert!(listening, "the server did not start on an empty database");
    assert_eq!(status(&db).await.state(), SchemaState::Current);
    let out = keyward(
        &db.url,
        &["token", "create", "--name", "x", "--scope", "admin"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}
