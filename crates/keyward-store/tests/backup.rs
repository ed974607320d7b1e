//! The logical backup on every backend and across them: every table is either in a backup or
//! named as left out, a backup restores into an empty database of either backend with every
//! row, and a file that is empty, of another schema, truncated, edited or followed by more
//! data is refused with a reason and writes nothing.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use keyward_keys::KeySerial;
use keyward_model::{DisplayName, Email, NewAuditRecord, NewEmployee};
use keyward_store::{BackupHeader, Error, NOT_BACKED_UP, ServerInstance, Store, TABLES, TableRows};
use keyward_test_support::TestDb;
use sea_orm::{ConnectionTrait, Database, Statement};
use uuid::Uuid;

/// A migrated store on SQLite (a file: the table listing opens a second connection) and on
/// PostgreSQL when the machine has it, with its label; keep the `TestDb` alive while testing.
async fn stores() -> Vec<(&'static str, Store, TestDb)> {
    let mut dbs = vec![TestDb::sqlite_file()];
    dbs.extend(TestDb::postgres().await);
    let mut out = Vec::new();
    for db in dbs {
        let store = Store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        out.push((db.label, store, db));
    }
    out
}

fn audit(action: &str) -> NewAuditRecord {
    NewAuditRecord {
        actor: "test".into(),
        action: action.into(),
        subject: "backup:test".into(),
        detail: serde_json::json!({"n": 1}),
        at: Utc::now(),
    }
}

/// Three employees, five keys, their audit records, and a running server's lease (which a
/// backup leaves out).
async fn seed(store: &Store) {
    let now = Utc::now();
    for name in ["ada", "bob", "cyd"] {
        store
            .create_employee(
                &NewEmployee {
                    email: Email::parse(&format!("{name}@example.com")).unwrap(),
                    display_name: DisplayName::parse(name).unwrap(),
                },
                now,
                &audit("employee.created"),
            )
            .await
            .unwrap();
    }
    let serials: Vec<KeySerial> = (1..=5)
        .map(|i| KeySerial::parse(&format!("HK-{i}")).unwrap())
        .collect();
    store
        .import_keys(&serials, now, &[audit("key.imported")])
        .await
        .unwrap();
    store
        .register_server_instance(&ServerInstance {
            id: Uuid::now_v7(),
            host: "here".into(),
            pid: 1,
            started_at: now,
            expires_at: now + Duration::minutes(1),
        })
        .await
        .unwrap();
}

async fn backup(store: &Store) -> (BackupHeader, Vec<u8>) {
    let mut out = Vec::new();
    let mut seen = 0;
    let header = store
        .write_backup(&mut out, &mut |p| seen = seen.max(p.done))
        .await
        .unwrap();
    let rows: u64 = header.tables.iter().map(|t| t.rows).sum();
    assert_eq!(seen, rows, "progress reaches every row");
    (header, out)
}

async fn restore(store: &Store, file: &[u8]) -> Result<BackupHeader, Error> {
    let mut input = std::io::BufReader::new(file);
    store.restore_backup(&mut input, &mut |_| {}).await
}

fn rows_of(header: &BackupHeader, table: &str) -> u64 {
    header
        .tables
        .iter()
        .find(|t| t.table == table)
        .map_or(0, |t| t.rows)
}

fn refused(outcome: Result<BackupHeader, Error>) -> String {
    match outcome {
        Err(Error::Backup { detail }) => detail,
        other => panic!("expected a refused backup, got {other:?}"),
    }
}

/// The tables the database has, whatever the backend.
async fn tables_of(url: &str) -> BTreeSet<String> {
    let db = Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    let sql = if url.starts_with("postgres") {
        "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap();
    db.close().await.unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect()
}

#[tokio::test]
async fn every_table_is_in_a_backup_or_named_as_left_out() {
    for (label, store, db) in stores().await {
        let expected: BTreeSet<String> = TABLES
            .iter()
            .chain(NOT_BACKED_UP)
            .chain(&["seaql_migrations"])
            .map(|t| (*t).to_owned())
            .collect();
        assert_eq!(
            tables_of(&db.url).await,
            expected,
            "{label}: a new table must go into backup::TABLES or NOT_BACKED_UP"
        );
        store.close().await.unwrap();
    }
}

#[tokio::test]
async fn a_backup_restores_into_either_backend_and_bad_files_write_nothing() {
    let sources = stores().await;
    for (from, source, _source_db) in &sources {
        seed(source).await;
        let (header, file) = backup(source).await;
        assert_eq!(rows_of(&header, "employees"), 3, "{from}");
        assert_eq!(rows_of(&header, "keys"), 5, "{from}");
        assert_eq!(rows_of(&header, "audit_log"), 4, "{from}");
        let names: Vec<&str> = header.tables.iter().map(|t| t.table.as_str()).collect();
        assert_eq!(names, TABLES, "{from}");
        for (to, target, _target_db) in stores().await {
            let restored = restore(&target, &file).await.unwrap();
            assert_eq!(restored.tables, header.tables, "{from} -> {to}");
            // Every row arrived: the target's own backup counts the same, table by table.
            let (again, _) = backup(&target).await;
            assert_eq!(again.tables, header.tables, "{from} -> {to}");
            assert!(to.starts_with(again.backend.as_str()), "{from} -> {to}");
            let mut emails: Vec<String> = target
                .all_employees()
                .await
                .unwrap()
                .into_iter()
                .filter_map(|e| e.email.map(|m| m.as_str().to_owned()))
                .collect();
            emails.sort();
            assert_eq!(
                emails,
                ["ada@example.com", "bob@example.com", "cyd@example.com"],
                "{from} -> {to}"
            );
            // The audit trail goes on after the restored records.
            let next = target.append_audit(&audit("after.restore")).await.unwrap();
            assert!(next > 4, "{from} -> {to}: seq {next}");
            // A second restore into the now full database: refused.
            let detail = refused(restore(&target, &file).await);
            assert!(detail.contains("this database is not empty"), "{detail}");
            target.close().await.unwrap();
        }

        // Bad files, each into a new empty database: refused, nothing written.
        let text = String::from_utf8(file.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let truncated = lines[..lines.len() - 1].join("\n");
        let trailing = format!("{text}\n{}\n", lines[1]);
        let mut more: BackupHeader = serde_json::from_str(lines[0]).unwrap();
        more.tables[0] = TableRows {
            table: more.tables[0].table.clone(),
            rows: more.tables[0].rows + 1,
        };
        let edited_count = std::iter::once(serde_json::to_string(&more).unwrap())
            .chain(lines[1..].iter().map(|l| (*l).to_owned()))
            .collect::<Vec<_>>()
            .join("\n");
        let mut newer: BackupHeader = serde_json::from_str(lines[0]).unwrap();
        newer
            .migrations
            .push("m29991231_000099_from_the_future".into());
        let other_schema = std::iter::once(serde_json::to_string(&newer).unwrap())
            .chain(lines[1..].iter().map(|l| (*l).to_owned()))
            .collect::<Vec<_>>()
            .join("\n");
        let broken_row = std::iter::once(lines[0].to_owned())
            .chain(std::iter::once(
                r#"{"table": "employees", "row": 7}"#.to_owned(),
            ))
            .chain(lines[2..].iter().map(|l| (*l).to_owned()))
            .collect::<Vec<_>>()
            .join("\n");
        let cases: [(&str, String, &str); 7] = [
            ("empty", String::new(), "the file is empty"),
            (
                "not a backup",
                "hello\n".into(),
                "not a keyward backup header",
            ),
            ("truncated", truncated, "of audit_log: it is truncated"),
            ("more after the end", trailing, "more after the last row"),
            (
                "edited count",
                edited_count,
                "of the 4 of employees was due",
            ),
            ("a broken row", broken_row, "line 2: not a row of employees"),
            (
                "another schema",
                other_schema,
                "m29991231_000099_from_the_future",
            ),
        ];
        for (case, bad, expect) in cases {
            for (to, target, _db) in stores().await {
                let detail = refused(restore(&target, bad.as_bytes()).await);
                assert!(detail.contains(expect), "{from} -> {to}, {case}: {detail}");
                let (empty, _) = backup(&target).await;
                assert!(
                    empty.tables.iter().all(|t| t.rows == 0),
                    "{from} -> {to}, {case}: wrote {:?}",
                    empty.tables
                );
                target.close().await.unwrap();
            }
        }
    }
}
