//! Benchmark: the write of a first full sync of 10,000 users (10,000 employees, 10,000 accounts,
//! 10,000 audit records in one transaction) into SQLite and PostgreSQL. This is what made the
//! PostgreSQL full sync slow until the rows per INSERT were measured (see `INSERT_BATCH`).
//!
//! `cargo bench -p keyward-store --bench sync_write`. Prints figures.

// A benchmark driver: failing loudly is what it should do.
#![allow(clippy::unwrap_used)]

use chrono::Utc;
use keyward_model::{
    DirectoryAccount, DirectoryName, DisplayName, Email, Employee, EmployeeId, EmployeeOrigin,
    EmployeeStatus, NewAuditRecord,
};
use keyward_store::{Store, SyncWrite};
use keyward_test_support::TestDb;

const USERS: i64 = 10_000;

fn first_sync() -> SyncWrite {
    let now = Utc::now();
    let directory = DirectoryName::parse("corp3").unwrap();
    let mut write = SyncWrite::default();
    for i in 0..USERS {
        let id = EmployeeId::new_v7();
        write.new_employees.push(Employee {
            id,
            email: Some(Email::parse(&format!("u{i}@bench.test")).unwrap()),
            display_name: DisplayName::parse(&format!("User {i}")).unwrap(),
            status: EmployeeStatus::Active,
            origin: EmployeeOrigin::Directory,
            created_at: now,
            updated_at: now,
        });
        write.upsert_accounts.push(DirectoryAccount {
            directory: directory.clone(),
            object_guid: uuid::Uuid::new_v4(),
            employee_id: id,
            dn: format!("CN=u{i:06},OU=Bench,DC=corp3,DC=test"),
            sam_account_name: Some(format!("u{i:06}")),
            user_principal_name: Some(format!("u{i:06}@corp3.test")),
            mail: Some(Email::parse(&format!("u{i}@bench.test")).unwrap()),
            display_name: Some(format!("User {i}")),
            enabled: true,
            in_rotation_group: false,
            usn_changed: i,
            last_seen_at: now,
            missing_since: None,
        });
        write.audits.push(NewAuditRecord {
            actor: "system".into(),
            action: "employee.created".into(),
            subject: format!("employee:{id}"),
            detail: serde_json::json!({ "origin": "directory", "directory": "corp3" }),
            at: now,
        });
    }
    write
}

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
            let write = first_sync();
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
