//! `keyward secrets rotate-key`: every stored secret moves to the new key-encryption key, what
//! was sealed opens to the same plaintext, activation codes issued before keep working, a run
//! interrupted half-way refuses both keys until it is run again, and it never runs beside a
//! live server. On SQLite (a file) and PostgreSQL.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::num::NonZeroU64;
use std::path::Path;

use keyward_keys::KeyStatus;
use keyward_service::{Actor, Error, KekRotationProgress, Keyward, Workstation};
use keyward_store::AuditFilter;

mod support;
use support::{Setup, active_key, approved, employee_with_account, setups};

/// `n` employees with a rotation-group account and an Active key each: each key has a sealed
/// candidate waiting. Returns the workstation that holds them, and each key's serial with the
/// candidate's plaintext.
async fn keys_with_candidates(s: &Setup, n: usize) -> (Workstation, Vec<(String, String)>) {
    let (ws, _) = approved(s, "WS-1").await;
    let mut out = Vec::new();
    for i in 0..n {
        let email = format!("user{i}@example.com");
        employee_with_account(s, &email, &format!("user{i}"), true).await;
        let serial = format!("HK-{i}");
        active_key(s, &ws, &serial, &email).await;
        let work = s.k.agent().pending(&ws, &serial).await.unwrap();
        let password = work.accounts[0]
            .password
            .as_ref()
            .unwrap()
            .expose()
            .to_owned();
        out.push((serial, password));
    }
    (ws, out)
}

/// The same installation opened with the key file `key`.
async fn opened_with(s: &Setup, key: &Path) -> Keyward {
    let mut settings = s.k.settings().clone();
    settings.secrets.key_file = Some(key.to_path_buf());
    Keyward::open(&settings).await.unwrap()
}

fn batch(n: u64) -> NonZeroU64 {
    NonZeroU64::new(n).unwrap()
}

#[tokio::test]
async fn every_secret_moves_to_the_new_key_and_opens_to_the_same_plaintext() {
    for s in setups().await {
        let (ws, candidates) = keys_with_candidates(&s, 3).await;
        // A key reserved with a live activation code: its hash is peppered with a key derived
        // from the old KEK, and the code must still work after the rotation.
        employee_with_account(&s, "bob@example.com", "bob", false).await;
        s.k.keys()
            .import(&["HK-BOB".into()], &Actor::Cli)
            .await
            .unwrap();
        let code =
            s.k.keys()
                .assign("HK-BOB", "bob@example.com", &Actor::Cli)
                .await
                .unwrap();
        let old_key = s.k.settings().secrets.key_file.clone().unwrap();
        let before = s.k.verify_secrets().await.unwrap();
        assert!(before.failed.is_empty());
        assert_eq!(before.opened, 3, "three candidates");

        let new_key = s.dir.path().join("kek-new");
        keyward_service::write_new_key_file(&new_key).unwrap();
        let mut seen = Vec::new();
        let report =
            s.k.rotate_kek(&new_key, batch(1), &mut |p: KekRotationProgress| {
                seen.push(p);
            })
            .await
            .unwrap();
        // Three candidates and the pepper, which the first rotation stores sealed.
        assert_eq!((report.resealed, report.already_new), (4, 0));
        assert!(!report.finished_earlier);
        assert_ne!(report.from, report.to);
        assert_eq!(
            seen.last().map(|p| (p.done, p.of)),
            Some((4, 4)),
            "{seen:?}"
        );

        // The old key no longer opens this database; the new one opens everything.
        let old = opened_with(&s, &old_key).await;
        let refused = old.check_secrets().await.unwrap_err();
        assert!(refused.to_string().contains("not the one"), "{refused}");
        let new = opened_with(&s, &new_key).await;
        assert_eq!(new.check_secrets().await.unwrap(), report.to);
        let after = new.verify_secrets().await.unwrap();
        assert_eq!(
            (after.opened, after.failed.len()),
            (4, 0),
            "{:?}",
            after.failed
        );
        for (serial, password) in &candidates {
            let work = new.agent().pending(&ws, serial).await.unwrap();
            assert_eq!(
                work.accounts[0].password.as_ref().unwrap().expose(),
                password
            );
        }
        new.agent().seen(&ws, "HK-BOB", None).await.unwrap();
        let activated = new
            .agent()
            .activate(&ws, "HK-BOB", code.activation_code.expose())
            .await
            .unwrap();
        assert_eq!(
            activated.status,
            KeyStatus::Active,
            "the code issued before still works"
        );

        let audit = s
            .store
            .search_audit(&AuditFilter {
                action: Some("secrets.kek_rotated".into()),
                limit: 10,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].record.detail["resealed"], 4);

        // Run again from the old configuration: already done, nothing changes.
        let again =
            s.k.rotate_kek(&new_key, batch(1), &mut |_| {})
                .await
                .unwrap();
        assert!(again.finished_earlier);
        // From the new configuration with the same file: refused, it is the configured key.
        let same = new
            .rotate_kek(&new_key, batch(1), &mut |_| {})
            .await
            .unwrap_err();
        assert!(matches!(same, Error::InvalidInput(_)), "{same}");
        // And onwards to a third key, which now also re-seals the stored pepper.
        let third = s.dir.path().join("kek-third");
        keyward_service::write_new_key_file(&third).unwrap();
        let report = new
            .rotate_kek(&third, batch(50), &mut |_| {})
            .await
            .unwrap();
        assert_eq!(report.resealed, 4, "the candidates and the stored pepper");
        let third = opened_with(&s, &third).await;
        assert!(third.verify_secrets().await.unwrap().failed.is_empty());
    }
}

#[tokio::test]
async fn an_interrupted_rotation_refuses_both_keys_until_it_is_run_again() {
    for s in setups().await {
        let (ws, candidates) = keys_with_candidates(&s, 5).await;
        let old_key = s.k.settings().secrets.key_file.clone().unwrap();
        let new_key = s.dir.path().join("kek-new");
        keyward_service::write_new_key_file(&new_key).unwrap();

        // The process dies after the second batch: the panic unwinds out of the rotation
        // between two transactions, as a kill there would.
        let k = s.k.clone();
        let path = new_key.clone();
        let crashed = tokio::spawn(async move {
            let mut die = |p: KekRotationProgress| assert!(p.done < 2, "killed");
            k.rotate_kek(&path, batch(1), &mut die).await
        })
        .await;
        assert!(crashed.is_err(), "the rotation task died");

        for key in [&old_key, &new_key] {
            let refused = opened_with(&s, key)
                .await
                .check_secrets()
                .await
                .unwrap_err();
            assert!(refused.to_string().contains("unfinished"), "{refused}");
            assert!(
                refused.to_string().contains("rotate-key"),
                "the message names the command: {refused}"
            );
        }
        // Another new key is refused while this rotation is unfinished.
        let other = s.dir.path().join("kek-other");
        keyward_service::write_new_key_file(&other).unwrap();
        let refused =
            s.k.rotate_kek(&other, batch(1), &mut |_| {})
                .await
                .unwrap_err();
        assert!(
            refused.to_string().contains("unfinished rotation"),
            "{refused}"
        );

        let report =
            s.k.rotate_kek(&new_key, batch(2), &mut |_| {})
                .await
                .unwrap();
        assert_eq!(
            report.already_new, 2,
            "the two batches that committed are kept"
        );
        assert_eq!(
            report.resealed, 4,
            "three candidates and the pepper are left"
        );
        let new = opened_with(&s, &new_key).await;
        assert!(new.verify_secrets().await.unwrap().failed.is_empty());
        for (serial, password) in &candidates {
            let work = new.agent().pending(&ws, serial).await.unwrap();
            assert_eq!(
                work.accounts[0].password.as_ref().unwrap().expose(),
                password
            );
        }
    }
}

#[tokio::test]
async fn a_rotation_never_runs_beside_a_live_server_nor_over_a_value_it_cannot_open() {
    for s in setups().await {
        keys_with_candidates(&s, 2).await;
        let new_key = s.dir.path().join("kek-new");
        keyward_service::write_new_key_file(&new_key).unwrap();

        let lease = s.k.register_server().await.unwrap();
        let refused =
            s.k.rotate_kek(&new_key, batch(1), &mut |_| {})
                .await
                .unwrap_err();
        assert!(
            matches!(refused, Error::ServersRunning { count: 1, .. }),
            "{refused}"
        );
        assert!(
            refused
                .to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{refused}"
        );
        // Nothing was recorded: the old key still works.
        s.k.check_secrets().await.unwrap();
        s.k.release_server(lease).await.unwrap();

        // A stored value that opens with neither key stops the rotation, named.
        keyward_test_support::execute_sql(
            &s.k.settings().database_url,
            "UPDATE account_passwords SET sealed_pending = 'kw1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' \
             WHERE object_guid = (SELECT object_guid FROM account_passwords \
             ORDER BY object_guid DESC LIMIT 1)",
        )
        .await;
        let report = s.k.verify_secrets().await;
        let failed = report.unwrap().failed;
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(
            failed[0].contains("pending password of corp1/"),
            "{failed:?}"
        );
        let refused =
            s.k.rotate_kek(&new_key, batch(1), &mut |_| {})
                .await
                .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("opens with neither the old key"),
            "{refused}"
        );
    }
}
