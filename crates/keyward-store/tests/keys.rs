//! Keys on every backend: activation attempts counted before any comparison, and the key's
//! holder written only by a version-checked statement (with a status change, or as a
//! compare-and-set of its own).

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use chrono::{Duration, Utc};
use common::stores;
use keyward_keys::{KeySerial, KeyStatus};
use keyward_model::{DisplayName, Email, EmployeeId, NewAuditRecord, NewEmployee};
use keyward_store::{
    AttemptReservation, BindingChange, CodeChange, Error, HolderChange, KeyChange, KeyState, Store,
    StoredCode,
};

fn audit(action: &str) -> NewAuditRecord {
    NewAuditRecord {
        actor: "test".into(),
        action: action.into(),
        subject: "key:test".into(),
        detail: serde_json::json!({}),
        at: Utc::now(),
    }
}

/// A key assigned to a new employee, with a live code; its serial and owner.
async fn reserved(store: &Store, serial: &str, expires_in: Duration) -> (KeySerial, EmployeeId) {
    let serial = KeySerial::parse(serial).unwrap();
    let now = Utc::now();
    store
        .import_keys(std::slice::from_ref(&serial), now, &[audit("key.import")])
        .await
        .unwrap();
    let owner = store
        .create_employee(
            &NewEmployee {
                email: Email::parse(&format!("{}@example.com", serial.as_str().to_lowercase()))
                    .unwrap(),
                display_name: DisplayName::parse("Owner").unwrap(),
            },
            now,
            &audit("employee.created"),
        )
        .await
        .unwrap()
        .id;
    change(
        store,
        &serial,
        1,
        KeyStatus::Reserved,
        Some(owner),
        BindingChange::Clear,
        CodeChange::Replace(StoredCode {
            code_hash: "not-a-real-hash".into(),
            expires_at: now + expires_in,
            attempts_used: 0,
            issued_at: now,
        }),
    )
    .await
    .unwrap();
    (serial, owner)
}

async fn change(
    store: &Store,
    serial: &KeySerial,
    expected_version: i64,
    status: KeyStatus,
    owner: Option<EmployeeId>,
    binding: BindingChange,
    code: CodeChange,
) -> Result<Option<keyward_keys::Key>, Error> {
    store
        .apply_key_change(&KeyChange {
            serial: serial.clone(),
            expected_version,
            state: Some(KeyState {
                status,
                employee_id: owner,
                reason: None,
                description: None,
                wipe_pending: false,
                binding,
            }),
            code,
            audit: audit("key.step"),
            now: Utc::now(),
            notify: None,
            passwords: Vec::new(),
        })
        .await
}

fn holder_change(
    serial: &KeySerial,
    version: i64,
    holder: &str,
    proof: Option<&str>,
) -> HolderChange {
    HolderChange {
        serial: serial.clone(),
        expected_version: version,
        holder: holder.into(),
        new_proof_hash: proof.map(str::to_owned),
        audit: audit("key.seen"),
        now: Utc::now(),
    }
}

#[tokio::test]
async fn parallel_attempts_each_count_and_none_goes_past_the_limit() {
    for (label, store, _db) in stores().await {
        let (serial, _) = reserved(&store, "AT-1", Duration::hours(1)).await;
        let tries = (0..12).map(|_| store.reserve_code_attempt(&serial, 3, Utc::now()));
        let outcomes = futures_util::future::join_all(tries).await;
        let mut numbers: Vec<u8> = outcomes
            .iter()
            .filter_map(|o| match o.as_ref().unwrap() {
                AttemptReservation::Counted { number, .. } => Some(*number),
                _ => None,
            })
            .collect();
        numbers.sort_unstable();
        assert_eq!(numbers, [1, 2, 3], "{label}: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .filter(|o| !matches!(o, Ok(AttemptReservation::Counted { .. })))
                .all(|o| matches!(o, Ok(AttemptReservation::Exhausted))),
            "{label}: {outcomes:?}"
        );
        assert_eq!(
            store
                .activation_code(&serial)
                .await
                .unwrap()
                .unwrap()
                .attempts_used,
            3,
            "{label}"
        );

        // An expired code counts nothing; a key without a code has nothing to count.
        let (expired, _) = reserved(&store, "AT-2", Duration::seconds(-1)).await;
        assert_eq!(
            store
                .reserve_code_attempt(&expired, 3, Utc::now())
                .await
                .unwrap(),
            AttemptReservation::Expired,
            "{label}"
        );
        assert_eq!(
            store
                .activation_code(&expired)
                .await
                .unwrap()
                .unwrap()
                .attempts_used,
            0,
            "{label}"
        );
        let none = KeySerial::parse("AT-3").unwrap();
        store
            .import_keys(
                std::slice::from_ref(&none),
                Utc::now(),
                &[audit("key.import")],
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .reserve_code_attempt(&none, 3, Utc::now())
                .await
                .unwrap(),
            AttemptReservation::NoCode,
            "{label}"
        );
    }
}

#[tokio::test]
async fn the_holder_moves_only_by_compare_and_set_and_every_status_change_releases_it() {
    for (label, store, _db) in stores().await {
        let (serial, owner) = reserved(&store, "HO-1", Duration::hours(1)).await;
        // Activation on a workstation: the holder and its proof, in the status write.
        let active = change(
            &store,
            &serial,
            2,
            KeyStatus::Active,
            Some(owner),
            BindingChange::Issue {
                holder: "ws-a".into(),
                proof_hash: "proof-a".into(),
            },
            CodeChange::Delete,
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            active.linked_workstation.as_deref(),
            Some("ws-a"),
            "{label}"
        );

        // Two workstations race from the same version: exactly one wins, and the version moves.
        let (to_b, to_c) = (
            holder_change(&serial, 3, "ws-b", None),
            holder_change(&serial, 3, "ws-c", None),
        );
        let (a, b) = tokio::join!(
            store.change_key_holder(&to_b),
            store.change_key_holder(&to_c)
        );
        assert_eq!(
            usize::from(a.is_ok()) + usize::from(b.is_ok()),
            1,
            "{label}: {a:?} / {b:?}"
        );
        let loser = a.as_ref().err().or(b.as_ref().err()).unwrap();
        assert!(matches!(loser, Error::Stale { .. }), "{label}: {loser}");
        let (key, proof) = store.key_with_proof(&serial).await.unwrap().unwrap();
        assert_eq!(key.version, 4, "{label}");
        assert_eq!(
            proof.as_deref(),
            Some("proof-a"),
            "{label}: the proof is kept"
        );

        // A holder change computed before a status change is refused.
        change(
            &store,
            &serial,
            4,
            KeyStatus::Suspended,
            Some(owner),
            BindingChange::Release,
            CodeChange::Keep,
        )
        .await
        .unwrap();
        assert!(matches!(
            store
                .change_key_holder(&holder_change(&serial, 4, "ws-evil", None))
                .await,
            Err(Error::Stale { .. })
        ));
        let (key, proof) = store.key_with_proof(&serial).await.unwrap().unwrap();
        assert_eq!(
            (key.linked_workstation, proof.as_deref()),
            (None, Some("proof-a")),
            "{label}: a release keeps the proof for the workstation that has the key"
        );

        // A change of hands forgets both.
        change(
            &store,
            &serial,
            5,
            KeyStatus::Deactivated,
            None,
            BindingChange::Clear,
            CodeChange::Keep,
        )
        .await
        .unwrap();
        let (key, proof) = store.key_with_proof(&serial).await.unwrap().unwrap();
        assert_eq!((key.linked_workstation, proof), (None, None), "{label}");
    }
}
