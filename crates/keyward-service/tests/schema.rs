//! Only `keyward migrate` changes the schema: opening refuses an empty, older or newer schema
//! with a one-line message naming what to run, and leaves the database as it was.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used)]

use keyward_service::{Error, Keyward, OpenMode, SchemaState, SchemaStatus, Settings};
use keyward_store::Store;
use keyward_test_support::TestDb;

/// A migration no keyward knows, as a newer keyward would have recorded it.
const FUTURE: &str = "m20991231_000099_from_the_future";

fn settings(db: &TestDb) -> Settings {
    Settings {
        database_url: db.url.clone(),
        ..Settings::default()
    }
}

async fn status(db: &TestDb) -> SchemaStatus {
    let store = Store::connect(&db.url).await.unwrap();
    let status = store.schema_status().await.unwrap();
    store.close().await.unwrap();
    status
}

/// A database with every migration but the last one applied; returns the missing one's name.
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

#[tokio::test]
async fn a_schema_one_migration_behind_is_refused_named_and_left_unchanged() {
    let db = TestDb::sqlite_file();
    let missing = one_migration_behind(&db).await;
    let before = status(&db).await;
    assert_eq!(before.state(), SchemaState::Behind);
    let expected = std::slice::from_ref(&missing);
    assert_eq!(before.pending, expected);

    for mode in [OpenMode::Existing, OpenMode::CreateIfEmpty] {
        let err = Keyward::open_with(&settings(&db), mode).await.unwrap_err();
        assert!(
            matches!(&err, Error::SchemaBehind { pending } if pending == expected),
            "{mode:?}: {err}"
        );
        let message = err.to_string();
        assert_eq!(
            message,
            format!(
                "the database schema is 1 migration behind this keyward ({missing}): run \
                 `keyward migrate` first"
            )
        );
        assert!(!message.contains('\n'));
        assert_eq!(err.code().as_str(), "schema_behind");
        assert_eq!(status(&db).await, before, "{mode:?} changed the schema");
    }

    // `keyward migrate` is what brings it up; then it opens.
    let keyward = Keyward::connect(&settings(&db)).await.unwrap();
    let report = keyward.migrate().await.unwrap();
    assert_eq!(report.applied_now, [missing]);
    assert_eq!(report.already_applied, before.applied);
    keyward.close().await.unwrap();
    let keyward = Keyward::open(&settings(&db)).await.unwrap();
    assert_eq!(
        keyward.schema_status().await.unwrap().state(),
        SchemaState::Current
    );
}

#[tokio::test]
async fn a_schema_a_newer_keyward_migrated_is_refused_and_not_migrated() {
    let db = TestDb::sqlite_file();
    Store::connect(&db.url)
        .await
        .unwrap()
        .migrate()
        .await
        .unwrap();
    keyward_test_support::execute_sql(
        &db.url,
        &format!("INSERT INTO seaql_migrations (version, applied_at) VALUES ('{FUTURE}', 0)"),
    )
    .await;
    let before = status(&db).await;
    assert_eq!(before.state(), SchemaState::Ahead);
    assert_eq!(before.unknown, [FUTURE]);
    assert!(before.pending.is_empty());

    for mode in [OpenMode::Existing, OpenMode::CreateIfEmpty] {
        let err = Keyward::open_with(&settings(&db), mode).await.unwrap_err();
        assert!(matches!(&err, Error::SchemaAhead { .. }), "{mode:?}: {err}");
        assert_eq!(
            err.to_string(),
            format!(
                "the database schema was migrated by a newer keyward (unknown {FUTURE}): \
                 upgrade this keyward or use the matching version"
            )
        );
        assert_eq!(err.code().as_str(), "schema_ahead");
    }
    // Not even `keyward migrate` touches it.
    let keyward = Keyward::connect(&settings(&db)).await.unwrap();
    let err = keyward.migrate().await.unwrap_err();
    assert!(matches!(&err, Error::SchemaAhead { .. }), "{err}");
    keyward.close().await.unwrap();
    assert_eq!(status(&db).await, before);
}

#[tokio::test]
async fn an_empty_database_is_refused_by_open_and_created_only_when_asked() {
    let db = TestDb::sqlite_file();
    let err = Keyward::open(&settings(&db)).await.unwrap_err();
    assert!(matches!(err, Error::SchemaEmpty), "{err}");
    assert!(
        err.to_string().contains("run `keyward migrate` first"),
        "{err}"
    );
    assert_eq!(err.code().as_str(), "schema_behind");
    // Reading the status created nothing, not even the migrations table.
    let after = status(&db).await;
    assert_eq!(after.state(), SchemaState::Empty);
    assert!(!after.has_tables);
    assert!(after.applied.is_empty());

    // The server's mode creates the schema in an empty database.
    let keyward = Keyward::open_with(&settings(&db), OpenMode::CreateIfEmpty)
        .await
        .unwrap();
    let now = keyward.schema_status().await.unwrap();
    assert_eq!(now.state(), SchemaState::Current);
    assert!(now.pending.is_empty());
    keyward.close().await.unwrap();
    Keyward::open(&settings(&db)).await.unwrap();
}

#[tokio::test]
async fn a_database_with_tables_but_no_recorded_migration_is_not_created_over() {
    let db = TestDb::sqlite_file();
    keyward_test_support::execute_sql(&db.url, "CREATE TABLE someone_elses (id INTEGER)").await;
    let before = status(&db).await;
    assert_eq!(before.state(), SchemaState::Behind);
    let err = Keyward::open_with(&settings(&db), OpenMode::CreateIfEmpty)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SchemaBehind { .. }), "{err}");
    assert_eq!(status(&db).await, before);
}
