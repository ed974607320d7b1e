//! What the store's test files share.

use keyward_store::Store;
use keyward_test_support::TestDb;

/// A migrated store on every backend the machine has (SQLite always, PostgreSQL when
/// `KEYWARD_TEST_POSTGRES_URL` is set), with its label; keep the `TestDb` alive while testing.
pub async fn stores() -> Vec<(&'static str, Store, TestDb)> {
    let mut out = Vec::new();
    for db in TestDb::all().await {
        let store = Store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        out.push((db.label, store, db));
    }
    out
}
