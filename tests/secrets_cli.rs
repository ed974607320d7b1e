//! docs/operations.md, "Backup and restore" and "Rotating the key-encryption key", performed
//! with the built binaries on SQLite and PostgreSQL: a backup taken while the server runs
//! (`sqlite3 .backup`, `pg_dump -Fc`), restored into a new database (`pg_restore`), opens with
//! the same KEK (`keyward secrets check` opens every sealed value); `keyward secrets
//! rotate-key` is refused while a server runs on it, re-seals everything once it is stopped,
//! and the server then starts with the new key only, with the passwords and activation codes of
//! before still good. `keyward backup` and `keyward restore` move a database between SQLite
//! and PostgreSQL with the same guarantees.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::Utc;
use keyward_model::{DirectoryAccount, DirectoryName};
use keyward_service::{Actor, DirectoryConfig, Keyward, OpenMode, Settings};
use keyward_store::Store;
use keyward_test_support::{TestDb, bin_path};
use serde_json::Value;

#[path = "support/server.rs"]
mod server;
use server::Server;

/// What was sealed before the backup, to check after the restore and the rotation.
struct Seeded {
    /// The candidate password of HK-1 (activated by WS-1).
    candidate: String,
    /// The live activation code of HK-2, reserved and not yet used.
    code: String,
}

fn settings(db_url: &str, key_file: &Path, dir: &Path) -> Settings {
    let mut directory = DirectoryConfig::new("corp1", vec!["ldaps://127.0.0.1:1".into()], "CN=svc");
    let bind_password = dir.join("bind-password");
    std::fs::write(&bind_password, "unused\n").unwrap();
    directory.bind_password_file = Some(bind_password);
    let mut settings = Settings {
        database_url: db_url.to_owned(),
        directories: vec![directory],
        ..Settings::default()
    };
    settings.secrets.key_file = Some(key_file.to_path_buf());
    settings
}

/// An employee with a rotation-group account and an Active key (its first rotation's candidate
/// is sealed), and a second key reserved with a live activation code (peppered with the KEK).
async fn seed(settings: &Settings) -> Seeded {
    let k = Keyward::open_with(settings, OpenMode::CreateIfEmpty)
        .await
        .unwrap();
    let store = Store::connect(&settings.database_url).await.unwrap();
    let ada = k
        .employees()
        .create("ada@example.com", "Ada Lovelace", &Actor::Cli)
        .await
        .unwrap();
    store
        .upsert_account(&DirectoryAccount {
            directory: DirectoryName::parse("corp1").unwrap(),
            object_guid: uuid::Uuid::new_v4(),
            employee_id: ada.id,
            dn: "CN=ada,DC=corp1,DC=test".into(),
            sam_account_name: Some("ada".into()),
            user_principal_name: Some("ada@corp1.test".into()),
            mail: None,
            display_name: Some("Ada Lovelace".into()),
            enabled: true,
            in_rotation_group: true,
            usn_changed: 1,
            last_seen_at: Utc::now(),
            missing_since: None,
        })
        .await
        .unwrap();
    let (ws, _) = k.agent().register("WS-1").await.unwrap();
    let ws = k
        .agent()
        .approve(&ws.id.to_string(), &Actor::Cli)
        .await
        .unwrap();
    k.keys()
        .import(&["HK-1".into(), "HK-2".into()], &Actor::Cli)
        .await
        .unwrap();
    let first = k
        .keys()
        .assign("HK-1", "ada@example.com", &Actor::Cli)
        .await
        .unwrap();
    k.agent().seen(&ws, "HK-1", None).await.unwrap();
    k.agent()
        .activate(&ws, "HK-1", first.activation_code.expose())
        .await
        .unwrap();
    let work = k.agent().pending(&ws, "HK-1").await.unwrap();
    let candidate = work.accounts[0]
        .password
        .as_ref()
        .unwrap()
        .expose()
        .to_owned();
    k.employees()
        .create("bob@example.com", "Bob Babbage", &Actor::Cli)
        .await
        .unwrap();
    let second = k
        .keys()
        .assign("HK-2", "bob@example.com", &Actor::Cli)
        .await
        .unwrap();
    store.close().await.unwrap();
    k.close().await.unwrap();
    Seeded {
        candidate,
        code: second.activation_code.expose().to_owned(),
    }
}

/// The built CLI on `db_url` with the key file `key`.
fn keyward(db_url: &str, key: &Path, args: &[&str]) -> Output {
    Command::new(bin_path("keyward"))
        .args(args)
        .args(["--database-url", db_url])
        .env_remove("KEYWARD_CONFIG")
        .env("KEYWARD_SECRETS__KEY_FILE", key)
        .output()
        .expect("run keyward")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

fn run(command: &mut Command) {
    let out = command.output().expect("run a backup tool");
    assert!(out.status.success(), "{command:?}: {}", text(&out.stderr));
}

/// Takes a backup of `source` while a server runs on it, the way docs/operations.md says, and
/// restores it into `target` (a new, empty database).
fn backup_and_restore(source: &TestDb, target: &TestDb, dir: &Path) {
    if source.label == "postgres" {
        let dump = dir.join("keyward.dump");
        run(Command::new("pg_dump")
            .args(["-Fc", "-d", &source.url, "-f"])
            .arg(&dump));
        run(Command::new("pg_restore")
            .args(["--exit-on-error", "--no-owner", "-d", &target.url])
            .arg(&dump));
    } else {
        let path = |url: &str| -> PathBuf {
            let file = url.trim_start_matches("sqlite://");
            PathBuf::from(file.split('?').next().unwrap())
        };
        let (from, to) = (path(&source.url), path(&target.url));
        run(Command::new("sqlite3")
            .arg(&from)
            .arg(format!(".backup '{}'", to.display())));
    }
}

/// A server starts on `db_url` with `key`, and the database then hands out what `seed` sealed:
/// HK-1's candidate to its workstation, and HK-2's activation code.
async fn starts_and_hands_out_what_was_sealed(
    db_url: &str,
    key: &Path,
    dir: &Path,
    seeded: &Seeded,
    label: &str,
) {
    let key_env = key.display().to_string();
    let server = Server::start_with_env(db_url, &[("KEYWARD_SECRETS__KEY_FILE", &key_env)]);
    server.terminate();
    let k = Keyward::open(&settings(db_url, key, dir)).await.unwrap();
    let ws = k
        .agent()
        .list(None, Some(10))
        .await
        .unwrap()
        .items
        .remove(0);
    let work = k.agent().pending(&ws, "HK-1").await.unwrap();
    assert_eq!(
        work.accounts[0].password.as_ref().unwrap().expose(),
        seeded.candidate,
        "{label}"
    );
    k.agent().seen(&ws, "HK-2", None).await.unwrap();
    k.agent().activate(&ws, "HK-2", &seeded.code).await.unwrap();
    k.close().await.unwrap();
}

#[tokio::test]
async fn a_restored_backup_opens_with_its_key_and_rotates_to_a_new_one() {
    let mut pairs = vec![(TestDb::sqlite_file(), TestDb::sqlite_file())];
    if let (Some(source), Some(target)) = (TestDb::postgres().await, TestDb::postgres().await) {
        pairs.push((source, target));
    }
    for (source, target) in pairs {
        let label = source.label;
        let dir = tempfile::tempdir().unwrap();
        let old_key = dir.path().join("kek-old");
        keyward_service::write_new_key_file(&old_key).unwrap();
        let seeded = seed(&settings(&source.url, &old_key, dir.path())).await;

        let old_key_env = old_key.display().to_string();
        let running =
            Server::start_with_env(&source.url, &[("KEYWARD_SECRETS__KEY_FILE", &old_key_env)]);
        backup_and_restore(&source, &target, dir.path());
        running.terminate();

        // The restored copy: current schema, every sealed value opens with the same key.
        let status = json(&keyward(
            &target.url,
            &old_key,
            &["migrate", "--status", "--output", "json"],
        ));
        assert_eq!(status["state"], "current", "{label}: {status}");
        let check = json(&keyward(
            &target.url,
            &old_key,
            &["secrets", "check", "--output", "json"],
        ));
        assert_eq!(check["opened"], 1, "{label}: the candidate: {check}");
        assert_eq!(check["failed"], Value::Array(vec![]), "{label}");

        // Not beside a running server: refused with the lease named, nothing changed.
        let new_key = dir.path().join("kek-new");
        keyward_service::write_new_key_file(&new_key).unwrap();
        let new_key_arg = new_key.display().to_string();
        let server =
            Server::start_with_env(&target.url, &[("KEYWARD_SECRETS__KEY_FILE", &old_key_env)]);
        let refused = keyward(
            &target.url,
            &old_key,
            &["secrets", "rotate-key", &new_key_arg],
        );
        assert_eq!(
            refused.status.code(),
            Some(5),
            "{label}: {}",
            text(&refused.stderr)
        );
        assert!(
            text(&refused.stderr).contains("keyward-server instance(s) use this database"),
            "{label}: {}",
            text(&refused.stderr)
        );
        server.terminate();

        // The server gave its lease back when it stopped: the rotation runs.
        let rotated = json(&keyward(
            &target.url,
            &old_key,
            &[
                "secrets",
                "rotate-key",
                &new_key_arg,
                "--batch-size",
                "1",
                "--output",
                "json",
            ],
        ));
        assert_eq!(
            rotated["resealed"], 2,
            "{label}: the candidate and the pepper: {rotated}"
        );
        let stale = keyward(&target.url, &old_key, &["secrets", "check"]);
        assert_eq!(
            stale.status.code(),
            Some(3),
            "{label}: {}",
            text(&stale.stderr)
        );
        let check = json(&keyward(
            &target.url,
            &new_key,
            &["secrets", "check", "--output", "json"],
        ));
        assert_eq!(
            (check["opened"].clone(), check["fingerprint"].clone()),
            (2.into(), rotated["to"].clone()),
            "{label}"
        );

        // The server starts with the new key; what was sealed before opens to the same values.
        starts_and_hands_out_what_was_sealed(&target.url, &new_key, dir.path(), &seeded, label)
            .await;
    }
}

/// `keyward backup` beside a running server and `keyward restore` into the other backend
/// (SQLite to PostgreSQL and back when PostgreSQL is here): the file is its owner's only and
/// holds no secret in clear, the restored database opens every sealed value with the same key
/// and hands out the same candidate and activation code; a restore into a database that holds
/// rows, and a truncated file, are refused with the reason and change nothing.
#[tokio::test]
async fn keyward_backup_and_restore_move_a_database_between_backends() {
    let mut pairs = vec![(TestDb::sqlite_file(), TestDb::sqlite_file())];
    if let Some(pg) = TestDb::postgres().await {
        pairs = vec![
            (TestDb::sqlite_file(), pg),
            (TestDb::postgres().await.unwrap(), TestDb::sqlite_file()),
        ];
    }
    for (source, target) in pairs {
        let label = format!("{} -> {}", source.label, target.label);
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("kek");
        keyward_service::write_new_key_file(&key).unwrap();
        let seeded = seed(&settings(&source.url, &key, dir.path())).await;
        let file = dir.path().join("keyward.backup");
        let file_arg = file.display().to_string();

        let key_env = key.display().to_string();
        let running =
            Server::start_with_env(&source.url, &[("KEYWARD_SECRETS__KEY_FILE", &key_env)]);
        let written = json(&keyward(
            &source.url,
            &key,
            &["backup", &file_arg, "--output", "json"],
        ));
        // Never over an existing file.
        let again = keyward(&source.url, &key, &["backup", &file_arg]);
        assert_ne!(again.status.code(), Some(0), "{label}");
        assert!(text(&again.stderr).contains("exists already"), "{label}");
        running.terminate();
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{label}");
        }
        let content = std::fs::read_to_string(&file).unwrap();
        assert!(
            !content.contains(&seeded.candidate) && !content.contains(&seeded.code),
            "{label}: a secret in clear in the backup"
        );
        let rows = written["rows"].as_u64().unwrap();
        assert!(rows > 10, "{label}: {written}");

        // Into a database that is not migrated: refused, naming the command.
        let unmigrated = keyward(&target.url, &key, &["restore", &file_arg]);
        assert_ne!(unmigrated.status.code(), Some(0), "{label}");
        assert!(
            text(&unmigrated.stderr).contains("keyward migrate"),
            "{label}: {}",
            text(&unmigrated.stderr)
        );
        json(&keyward(
            &target.url,
            &key,
            &["migrate", "--output", "json"],
        ));
        // A truncated copy: refused, nothing written (the full file restores after it).
        let truncated = dir.path().join("truncated.backup");
        let lines: Vec<&str> = content.lines().collect();
        std::fs::write(&truncated, lines[..lines.len() - 1].join("\n")).unwrap();
        let cut = keyward(
            &target.url,
            &key,
            &["restore", &truncated.display().to_string()],
        );
        assert_ne!(cut.status.code(), Some(0), "{label}");
        let stderr = text(&cut.stderr);
        assert!(
            stderr.contains("it is truncated") && stderr.contains("nothing was restored"),
            "{label}: {stderr}"
        );
        let restored = json(&keyward(
            &target.url,
            &key,
            &["restore", &file_arg, "--output", "json"],
        ));
        assert_eq!(restored["rows"], written["rows"], "{label}");
        assert_eq!(restored["tables"], written["tables"], "{label}");
        let twice = keyward(&target.url, &key, &["restore", &file_arg]);
        assert_ne!(twice.status.code(), Some(0), "{label}");
        assert!(
            text(&twice.stderr).contains("this database is not empty"),
            "{label}: {}",
            text(&twice.stderr)
        );

        // The same key opens everything; the restored database behaves as the source did.
        let check = json(&keyward(
            &target.url,
            &key,
            &["secrets", "check", "--output", "json"],
        ));
        assert_eq!(check["opened"], 1, "{label}: the candidate: {check}");
        assert_eq!(check["failed"], Value::Array(vec![]), "{label}");
        starts_and_hands_out_what_was_sealed(&target.url, &key, dir.path(), &seeded, &label).await;
    }
}
