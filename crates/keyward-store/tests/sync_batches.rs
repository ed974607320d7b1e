//! Sync storage on every backend: the narrow index pages through every account in key order,
//! a batch's state is exactly its employees and their accounts, and a write whose run no longer
//! holds the directory's lease is refused whole.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{Duration, Utc};
use common::stores;
use keyward_model::{
    DirectoryAccount, DirectoryName, DisplayName, Email, Employee, EmployeeId, EmployeeOrigin,
    EmployeeStatus,
};
use keyward_store::{Error, LeaseHold, Store, SyncWrite};
use uuid::Uuid;

fn employee(n: u128) -> Employee {
    Employee {
        id: EmployeeId::from_uuid(Uuid::from_u128(n)),
        email: Email::parse(&format!("e{n}@example.com")).ok(),
        display_name: DisplayName::parse(&format!("E {n}")).unwrap(),
        status: EmployeeStatus::Active,
        origin: EmployeeOrigin::Directory,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn account(directory: &str, n: u128, employee: u128) -> DirectoryAccount {
    DirectoryAccount {
        directory: DirectoryName::parse(directory).unwrap(),
        object_guid: Uuid::from_u128(n),
        employee_id: EmployeeId::from_uuid(Uuid::from_u128(employee)),
        dn: format!("CN=u{n},DC={directory}"),
        sam_account_name: Some(format!("u{n}")),
        user_principal_name: None,
        mail: Email::parse(&format!("e{employee}@example.com")).ok(),
        display_name: None,
        enabled: true,
        in_rotation_group: false,
        usn_changed: 1,
        last_seen_at: Utc::now(),
        missing_since: None,
    }
}

/// Ten employees, each with an account in corp1 and corp2.
async fn seed(store: &Store) {
    let write = SyncWrite {
        new_employees: (1..=10).map(employee).collect(),
        upsert_accounts: (1..=10)
            .flat_map(|n| [account("corp1", 100 + n, n), account("corp2", 200 + n, n)])
            .collect(),
        ..SyncWrite::default()
    };
    store.apply_sync(&write).await.unwrap();
}

#[tokio::test]
async fn the_index_pages_through_every_account_once_in_key_order() {
    for (label, store, _db) in stores().await {
        seed(&store).await;
        let mut after = None;
        let mut seen = Vec::new();
        loop {
            let page = store.account_index_page(&after, 3).await.unwrap();
            assert!(page.len() <= 3, "{label}");
            let Some(last) = page.last() else { break };
            after = Some((last.directory.clone(), last.object_guid));
            seen.extend(page.into_iter().map(|e| {
                (
                    e.directory.as_str().to_owned(),
                    e.object_guid.as_u128(),
                    e.employee_id,
                )
            }));
        }
        let mut expected: Vec<_> = (1..=10)
            .flat_map(|n| {
                let id = EmployeeId::from_uuid(Uuid::from_u128(n));
                [
                    ("corp1".to_owned(), 100 + n, id),
                    ("corp2".to_owned(), 200 + n, id),
                ]
            })
            .collect();
        expected.sort();
        assert_eq!(seen, expected, "{label}");
        let mut employees = Vec::new();
        let mut after = None;
        loop {
            let page = store.employee_index_page(after, 4).await.unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.0);
            employees.extend(page);
        }
        assert_eq!(employees.len(), 10, "{label}");
        assert_eq!(
            employees[0].1,
            Email::parse("e1@example.com").ok(),
            "{label}"
        );
    }
}

#[tokio::test]
async fn accounts_are_found_by_their_dn_in_their_directory_only() {
    for (label, store, _db) in stores().await {
        seed(&store).await;
        let corp1 = DirectoryName::parse("corp1").unwrap();
        let dns = [
            "CN=u103,DC=corp1".to_owned(),
            "CN=u105,DC=corp1".to_owned(),
            "CN=u203,DC=corp2".to_owned(),
            "CN=nobody,DC=corp1".to_owned(),
            "cn=u104,dc=corp1".to_owned(),
        ];
        let found = store.account_guids_with_dns(&corp1, &dns).await.unwrap();
        assert_eq!(
            found,
            [Uuid::from_u128(103), Uuid::from_u128(105)],
            "{label}: the other directory's DN and another spelling are not matches"
        );
        assert!(
            store
                .account_guids_with_dns(&corp1, &[])
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn a_batch_holds_its_employees_and_every_account_linked_to_them() {
    for (label, store, _db) in stores().await {
        seed(&store).await;
        let ids: Vec<EmployeeId> = [2, 5]
            .map(|n| EmployeeId::from_uuid(Uuid::from_u128(n)))
            .into();
        let state = store.sync_batch_state(&ids).await.unwrap();
        let mut guids: Vec<u128> = state
            .accounts
            .iter()
            .map(|a| a.object_guid.as_u128())
            .collect();
        guids.sort_unstable();
        assert_eq!(guids, [102, 105, 202, 205], "{label}");
        assert_eq!(state.employees.len(), 2, "{label}");
        assert!(
            store
                .sync_batch_state(&[])
                .await
                .unwrap()
                .accounts
                .is_empty()
        );
    }
}

#[tokio::test]
async fn a_write_without_the_lease_is_refused_whole_and_one_with_it_extends_it() {
    for (label, store, _db) in stores().await {
        let corp1 = DirectoryName::parse("corp1").unwrap();
        let now = Utc::now();
        assert!(
            store
                .acquire_lease(&corp1, "run-a", now, now + Duration::seconds(60))
                .await
                .unwrap()
        );
        let write = |holder: &str| SyncWrite {
            lease: Some(LeaseHold {
                directory: corp1.clone(),
                holder: holder.into(),
                until: now + Duration::seconds(600),
            }),
            new_employees: vec![employee(1)],
            upsert_accounts: vec![account("corp1", 101, 1)],
            ..SyncWrite::default()
        };
        let refused = store.apply_sync(&write("run-b")).await.unwrap_err();
        assert!(
            matches!(refused, Error::LeaseLost { ref directory } if directory == "corp1"),
            "{label}: {refused}"
        );
        assert!(
            store.all_employees().await.unwrap().is_empty(),
            "{label}: nothing written"
        );
        assert!(
            store.all_accounts().await.unwrap().is_empty(),
            "{label}: nothing written"
        );
        store.apply_sync(&write("run-a")).await.unwrap();
        assert_eq!(store.all_accounts().await.unwrap().len(), 1, "{label}");
        // Extended to the write's expiry: another run cannot take it a minute later.
        let later = now + Duration::seconds(120);
        assert!(
            !store
                .acquire_lease(&corp1, "run-b", later, later + Duration::seconds(60))
                .await
                .unwrap(),
            "{label}"
        );
        // A released lease refuses the holder's next write too.
        store.release_lease(&corp1, "run-a").await.unwrap();
        let again = SyncWrite {
            new_employees: vec![employee(2)],
            ..write("run-a")
        };
        assert!(
            matches!(store.apply_sync(&again).await, Err(Error::LeaseLost { .. })),
            "{label}"
        );
    }
}
