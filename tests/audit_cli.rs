//! `keyward audit list|export` against the built CLI on SQLite and PostgreSQL: filters, CSV
//! that a CSV reader reads back, JSON lines, and a bad time refused with exit 6.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used)]

use keyward_test_support::{TestDb, keyward_cli as keyward};
use serde_json::Value;

fn ok(db: &str, args: &[&str]) -> String {
    let out = keyward(db, args);
    assert!(
        out.status.success(),
        "keyward {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn the_audit_lists_and_exports_what_was_done() {
    let mut dbs = vec![TestDb::sqlite_file().migrated()];
    if let Some(pg) = TestDb::postgres().await {
        dbs.push(pg.migrated());
    }
    for db in dbs {
        let url = db.url.as_str();
        ok(url, &["keys", "import", "AU-1", "AU-2"]);
        ok(
            url,
            &[
                "admins",
                "create",
                "--email",
                "ada@corp.example",
                "--name",
                "=cmd|' /C calc'!A0",
            ],
        );
        ok(url, &["keys", "delete", "AU-2"]);

        let listed: Value = serde_json::from_str(&ok(
            url,
            &["--output", "json", "audit", "list", "--action", "key."],
        ))
        .unwrap();
        let actions: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["key.delete", "key.import", "key.import"],
            "{}",
            db.label
        );
        let one: Value = serde_json::from_str(&ok(
            url,
            &[
                "--output",
                "json",
                "audit",
                "list",
                "--subject",
                "key:AU-1",
                "--since",
                "2000-01-01",
            ],
        ))
        .unwrap();
        assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
        let none: Value = serde_json::from_str(&ok(
            url,
            &["--output", "json", "audit", "list", "--until", "2000-01-01"],
        ))
        .unwrap();
        assert_eq!(none, Value::Array(vec![]));

        let csv = ok(url, &["audit", "export"]);
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(
            reader.headers().unwrap().iter().collect::<Vec<_>>(),
            ["seq", "at", "actor", "action", "subject", "detail"]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 4, "{csv}");
        assert!(rows.iter().all(|r| &r[2] == "cli"), "{csv}");
        // The admin's name went into the detail, which does not start a formula; a field that
        // starts with `=` would be defused (see the unit test of audit_csv).
        assert!(rows.iter().any(|r| &r[3] == "admin.created"));

        let lines = ok(
            url,
            &["audit", "export", "--format", "jsonl", "--action", "admin."],
        );
        let records: Vec<Value> = lines
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["subject"], "admin:ada@corp.example");

        let bad = keyward(url, &["audit", "list", "--since", "yesterday"]);
        assert_eq!(bad.status.code(), Some(6), "{}", db.label);
        let message = String::from_utf8_lossy(&bad.stderr);
        assert!(
            message.contains("--since") && message.contains("yesterday"),
            "{message}"
        );
    }
}
