//! Benchmark: `keyward backup` and `keyward restore` at the store, for a database of 100,000
//! synced users (100,000 employees, accounts and audit records: 300,000 rows). Writes the
//! backup of each backend to a file, restores it into a new database of each backend, and
//! prints the time, the file's size and the process's peak memory.
//!
//! `cargo bench -p keyward-store --bench backup` (`KEYWARD_BENCH_USERS` to change the size).
//! PostgreSQL when `KEYWARD_TEST_POSTGRES_URL` is set.

// A benchmark driver: failing loudly is what it should do.
#![allow(clippy::unwrap_used)]

use std::io::{BufReader, BufWriter};
use std::time::Instant;

use keyward_store::Store;
use keyward_test_support::{TestDb, peak_rss_kib};

mod common;

/// Users written per transaction while seeding.
const SEED_BATCH: i64 = 10_000;

async fn migrated(db: &TestDb) -> Store {
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![TestDb::sqlite_file()];
    dbs.extend(TestDb::postgres().await);
    dbs
}

fn main() {
    let users: i64 = std::env::var("KEYWARD_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        for source_db in databases().await {
            let source = migrated(&source_db).await;
            let mut from = 0;
            while from < users {
                let to = (from + SEED_BATCH).min(users);
                source
                    .apply_sync(&common::first_sync(from, to))
                    .await
                    .unwrap();
                from = to;
            }
            let file = dir.path().join(format!("{}.kwb", source_db.label));
            let started = Instant::now();
            let mut out = BufWriter::new(std::fs::File::create(&file).unwrap());
            let header = source.write_backup(&mut out, &mut |_| {}).await.unwrap();
            drop(out);
            let rows: u64 = header.tables.iter().map(|t| t.rows).sum();
            println!(
                "backup: {rows} rows from {}: {:.2} s, {} MiB, peak RSS {} MiB",
                source_db.label,
                started.elapsed().as_secs_f64(),
                std::fs::metadata(&file).unwrap().len() / 1_048_576,
                peak_rss_kib() / 1024
            );
            source.close().await.unwrap();
            for target_db in databases().await {
                let target = migrated(&target_db).await;
                let started = Instant::now();
                let mut input = BufReader::new(std::fs::File::open(&file).unwrap());
                target
                    .restore_backup(&mut input, &mut |_| {})
                    .await
                    .unwrap();
                println!(
                    "restore: {rows} rows {} -> {}: {:.2} s, peak RSS {} MiB",
                    source_db.label,
                    target_db.label,
                    started.elapsed().as_secs_f64(),
                    peak_rss_kib() / 1024
                );
                target.close().await.unwrap();
            }
        }
    });
}
