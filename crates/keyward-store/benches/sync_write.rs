//! Benchmark: the write of a first full sync of 10,000 users (10,000 employees, 10,000 accounts,
//! 10,000 audit records in one transaction) into SQLite and PostgreSQL. This is what made the
//! PostgreSQL full sync slow until the rows per INSERT were measured (see `INSERT_BATCH`).
//!
//! `cargo bench -p keyward-store --bench sync_write`. Prints figures.

// A benchmark driver: failing loudly is what it should do.
#![allow(clippy::unwrap_used)]

use keyward_store::Store;
use keyward_test_support::TestDb;

mod common;

const USERS: i64 = 10_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut dbs = vec![TestDb::sqlite_file()];
        if let Some(pg) = TestDb::postgres().await {
            dbs.push(pg);
        }
        for db in &dbs {
            let store = Store::connect(&db.url).await.unwrap();
            store.migrate().await.unwrap();
            let write = common::first_sync(0, USERS);
            let started = std::time::Instant::now();
            store.apply_sync(&write).await.unwrap();
            println!(
                "sync_write: {} rows in one transaction into {}: {:.3} s",
                3 * USERS,
                db.label,
                started.elapsed().as_secs_f64()
            );
            store.close().await.unwrap();
        }
    });
}
