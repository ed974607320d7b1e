//! What the console's lists and dashboard ask of the store, on SQLite and PostgreSQL: the
//! employee search and its filters, the counts by status, the audit search.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use chrono::Utc;
use keyward_model::{DirectoryAccount, DirectoryName, Email};
use keyward_service::{Actor, AuditFilter, EmployeeFilter, Keyward, OpenMode, Settings};
use keyward_store::Store;
use keyward_test_support::TestDb;

async fn names(k: &Keyward, filter: &EmployeeFilter) -> Vec<String> {
    let mut out: Vec<String> = k
        .employees()
        .search(filter, None, Some(50))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.display_name.as_str().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn employee_search_counts_and_audit_search_read_what_was_written() {
    let mut dbs = vec![TestDb::sqlite_file()];
    if let Some(pg) = TestDb::postgres().await {
        dbs.push(pg);
    }
    for db in dbs {
        let settings = Settings {
            database_url: db.url.clone(),
            ..Settings::default()
        };
        let k = Keyward::open_with(&settings, OpenMode::CreateIfEmpty)
            .await
            .unwrap();
        let actor = Actor::Cli;
        k.employees()
            .create("ada@corp.example", "Ada Lovelace", &actor)
            .await
            .unwrap();
        let bob = k
            .employees()
            .create("bob@corp.example", "Bob Kahn", &actor)
            .await
            .unwrap();
        k.employees()
            .create("cyd@corp.example", "Cyd 100%_", &actor)
            .await
            .unwrap();
        k.keys().import(&["QK-1".into()], &actor).await.unwrap();
        k.keys()
            .assign("QK-1", "ada@corp.example", &actor)
            .await
            .unwrap();
        let store = Store::connect(&db.url).await.unwrap();
        store
            .upsert_account(&DirectoryAccount {
                directory: DirectoryName::parse("corp1").unwrap(),
                object_guid: uuid::Uuid::new_v4(),
                employee_id: bob.id,
                dn: "CN=Bob,DC=corp1,DC=test".into(),
                sam_account_name: Some("bob".into()),
                user_principal_name: None,
                mail: Some(Email::parse("bob@corp.example").unwrap()),
                display_name: Some("Bob Kahn".into()),
                enabled: true,
                in_rotation_group: false,
                usn_changed: 1,
                last_seen_at: Utc::now(),
                missing_since: None,
            })
            .await
            .unwrap();

        let all = EmployeeFilter::default();
        assert_eq!(names(&k, &all).await.len(), 3, "{}", db.label);
        let text = |t: &str| EmployeeFilter {
            text: Some(t.into()),
            ..EmployeeFilter::default()
        };
        assert_eq!(
            names(&k, &text("LOVE")).await,
            ["Ada Lovelace"],
            "{}",
            db.label
        );
        assert_eq!(names(&k, &text("bob@")).await, ["Bob Kahn"], "{}", db.label);
        // `%` and `_` are dropped from the text: never wildcards (here nothing is left: all match).
        assert_eq!(names(&k, &text("%")).await.len(), 3, "{}", db.label);
        let has_key = |v| EmployeeFilter {
            has_key: Some(v),
            ..EmployeeFilter::default()
        };
        assert_eq!(
            names(&k, &has_key(true)).await,
            ["Ada Lovelace"],
            "{}",
            db.label
        );
        assert_eq!(
            names(&k, &has_key(false)).await,
            ["Bob Kahn", "Cyd 100%_"],
            "{}",
            db.label
        );
        let in_corp1 = EmployeeFilter {
            directory: Some("corp1".into()),
            status: Some("active".into()),
            ..EmployeeFilter::default()
        };
        assert_eq!(names(&k, &in_corp1).await, ["Bob Kahn"], "{}", db.label);
        let disabled = EmployeeFilter {
            status: Some("disabled".into()),
            ..EmployeeFilter::default()
        };
        assert!(names(&k, &disabled).await.is_empty(), "{}", db.label);

        let overview = k.overview().await.unwrap();
        assert_eq!(overview.employees, 3, "{}", db.label);
        assert_eq!(overview.employees_from_directory, 0, "{}", db.label);
        assert_eq!(overview.keys.get("reserved"), Some(&1), "{}", db.label);
        assert_eq!(k.stalled_rotations().await.unwrap(), 0, "{}", db.label);

        let keys_done = k
            .audit()
            .search(&AuditFilter {
                action: Some("key.".into()),
                actor: Some("cli".into()),
                limit: 10,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        let actions: Vec<&str> = keys_done.iter().map(|r| r.record.action.as_str()).collect();
        assert_eq!(actions, ["key.assign", "key.import"], "{}", db.label);
        let (everything, more) = k.audit().export(&AuditFilter::default(), 3).await.unwrap();
        assert_eq!((everything.len(), more), (3, true), "{}", db.label);
        assert!(
            everything.windows(2).all(|w| w[0].seq > w[1].seq),
            "newest first"
        );
    }
}
