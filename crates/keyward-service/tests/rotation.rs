//! The rotation protocol and the agent API's rules without a directory: who may fetch a
//! password, which acknowledgement counts, in-flight exclusivity, overdue reporting, retries
//! reported as stalled (never rolled back), the maximum password age, deactivation and
//! compromise, and the key-encryption key check. (The directory step against real Samba AD is in
//! `tests/rotation_e2e.rs`.)

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use chrono::Duration;
use keyward_keys::KeyStatus;
use keyward_service::{
    AckItem, Actor, Clock as _, Credential, Error, Keyward, OpenMode, SecretString, Settings,
    UserChange, WorkstationStatus,
};
use keyward_test_support::TestDb;

mod support;
use support::{account, active_key, approved, employee_with_account, setups};

#[tokio::test]
async fn only_the_approved_holder_gets_the_candidate_and_only_its_ack_counts() {
    for s in setups().await {
        let guid = employee_with_account(&s, "ada@example.com", "ada", true).await;
        let agent = s.k.agent();
        let (pending_ws, pending_credential) = agent.register("WS-PENDING").await.unwrap();
        assert!(matches!(
            agent.seen(&pending_ws, "HK-1", None).await,
            Err(Error::WorkstationNotApproved(_))
        ));
        let (ws, credential) = approved(&s, "WS-1").await;
        let (other, _) = approved(&s, "WS-2").await;
        assert_eq!(
            agent.authenticate(credential.expose()).await.unwrap().id,
            ws.id
        );
        assert_eq!(
            agent
                .authenticate(pending_credential.expose())
                .await
                .unwrap()
                .status,
            WorkstationStatus::Pending
        );
        let forged = format!("kww_{}_AAAA", ws.id.simple());
        assert!(matches!(
            agent.authenticate(&forged).await,
            Err(Error::Unauthorized {
                credential: Credential::Workstation
            })
        ));
        assert!(matches!(
            agent.authenticate("nonsense").await,
            Err(Error::Unauthorized {
                credential: Credential::Workstation
            })
        ));

        // Activation starts the first rotation: a sealed candidate for the key.
        let proof = active_key(&s, &ws, "HK-1", "ada@example.com").await;
        let status =
            s.k.passwords()
                .status(Some("ada@example.com"))
                .await
                .unwrap();
        assert_eq!(
            (status[0].state.as_str(), status[0].pending_version),
            ("awaiting_key", Some(1))
        );
        assert_eq!(status[0].reason.as_deref(), Some("key_activation"));

        // Only the workstation that holds the key gets it.
        assert!(matches!(
            agent.pending(&other, "HK-1").await,
            Err(Error::KeyNotHeld(_))
        ));
        let work = agent.pending(&ws, "HK-1").await.unwrap();
        assert_eq!(work.accounts.len(), 1);
        let delivery = &work.accounts[0];
        assert_eq!(
            (delivery.action, delivery.version, delivery.login.as_str()),
            ("write", 1, "CORP1\\ada")
        );
        let password = delivery.password.as_ref().unwrap().expose().to_owned();
        assert_eq!(password.len(), 24);
        assert!(!password.to_lowercase().contains("ada"));
        let shown = serde_json::to_string(&s.k.passwords().status(None).await.unwrap()).unwrap();
        assert!(!shown.contains(&password), "the status shows the password");
        assert!(
            !format!("{work:?}").contains(&password),
            "Debug shows the password"
        );

        // Waiting too long for the key is reported.
        assert!(!s.k.passwords().status(None).await.unwrap()[0].overdue);
        s.clock.advance(Duration::hours(73));
        assert!(s.k.passwords().status(None).await.unwrap()[0].overdue);

        // A second rotation is refused while one is in flight.
        assert!(matches!(
            s.k.passwords()
                .rotate("ada@example.com", None, &Actor::Cli)
                .await,
            Err(Error::RotationInFlight(_))
        ));
        // A wrong version is not an acknowledgement; the right one is.
        let ack = |version| AckItem {
            directory: "corp1".into(),
            object_guid: guid,
            version,
        };
        assert_eq!(
            agent
                .acknowledge(&ws, "HK-1", None, &[ack(7)])
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            agent
                .acknowledge(&ws, "HK-1", None, &[ack(1)])
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            agent
                .acknowledge(&ws, "HK-1", None, &[ack(1)])
                .await
                .unwrap(),
            0
        );
        let status = s.k.passwords().status(None).await.unwrap();
        assert_eq!(status[0].state, "awaiting_directory");
        assert!(
            agent
                .pending(&ws, "HK-1")
                .await
                .unwrap()
                .accounts
                .is_empty()
        );

        // The directory cannot be reached: retried with back-off, and after `max_attempts`
        // reported as stalled, never rolled back (the directory may hold the candidate).
        let report = s.k.passwords().advance_due().await.unwrap();
        assert_eq!((report.retried, report.committed), (1, 0), "{report:?}");
        assert_eq!(
            s.k.passwords().advance_due().await.unwrap().retried,
            0,
            "not due yet"
        );
        let status = s.k.passwords().status(None).await.unwrap();
        assert!(!status[0].overdue, "one failure is not a stall");
        for _ in 0..3 {
            s.clock.advance(Duration::hours(1));
            let report = s.k.passwords().advance_due().await.unwrap();
            assert_eq!((report.retried, report.refused), (1, 0), "{report:?}");
        }
        let status = s.k.passwords().status(None).await.unwrap();
        assert_eq!(status[0].state, "awaiting_directory");
        assert_eq!(status[0].attempts, 4);
        assert!(status[0].overdue, "stalled after max_attempts");
        assert!(
            status[0]
                .last_error
                .as_deref()
                .unwrap()
                .contains("stalled, still retrying after 4 attempts"),
            "{:?}",
            status[0].last_error
        );
        assert!(
            agent
                .pending(&ws, "HK-1")
                .await
                .unwrap()
                .accounts
                .is_empty(),
            "no roll-back is sent to the key"
        );
        let subject = format!("account:corp1/{guid}");
        let history = s.store.list_audit(Some(&subject), 0, 1000).await.unwrap();
        let actions: Vec<String> = history.into_iter().map(|r| r.record.action).collect();
        assert_eq!(
            actions
                .iter()
                .filter(|a| *a == "password.directory_stalled")
                .count(),
            1,
            "{actions:?}"
        );

        // The serial alone does not move an Active key to another workstation: it needs the
        // key proof stored on the key. Refused attempts change nothing and are audited.
        assert!(matches!(
            agent.seen(&other, "HK-1", None).await,
            Err(Error::KeyProofRequired(_))
        ));
        let forged = SecretString::new("kwp_forged".into());
        assert!(matches!(
            agent.seen(&other, "HK-1", Some(&forged)).await,
            Err(Error::KeyProofRequired(_))
        ));
        assert!(
            agent.pending(&ws, "HK-1").await.is_ok(),
            "still held by WS-1"
        );
        let refusals =
            s.k.keys()
                .history("HK-1")
                .await
                .unwrap()
                .into_iter()
                .filter(|r| r.record.action == "key.takeover_refused")
                .count();
        assert_eq!(refusals, 2);
        // With the proof, the key moves; the first workstation loses it.
        agent.seen(&other, "HK-1", Some(&proof)).await.unwrap();
        assert!(matches!(
            agent.pending(&ws, "HK-1").await,
            Err(Error::KeyNotHeld(_))
        ));
        // The holder may renew the proof: the old one stops working.
        let renewed = agent.renew_proof(&other, "HK-1").await.unwrap();
        assert_ne!(renewed.expose(), proof.expose());
        assert!(matches!(
            agent.renew_proof(&ws, "HK-1").await,
            Err(Error::KeyNotHeld(_))
        ));
        assert!(matches!(
            agent.seen(&ws, "HK-1", Some(&proof)).await,
            Err(Error::KeyProofRequired(_))
        ));
        agent.seen(&ws, "HK-1", Some(&renewed)).await.unwrap();
        agent.seen(&other, "HK-1", Some(&renewed)).await.unwrap();
        // A revoked workstation is refused.
        agent
            .revoke(&other.id.to_string(), &Actor::Cli)
            .await
            .unwrap();
        let other = agent
            .list(None, None)
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|w| w.id == other.id)
            .unwrap();
        assert!(matches!(
            agent.pending(&other, "HK-1").await,
            Err(Error::WorkstationNotApproved(_))
        ));
    }
}

#[tokio::test]
async fn the_maximum_password_age_starts_a_rotation_when_it_is_reached() {
    for s in setups().await {
        // Not in the rotation group at activation: no first rotation.
        let guid = employee_with_account(&s, "bea@example.com", "bea", false).await;
        let (ws, _) = approved(&s, "WS-1").await;
        active_key(&s, &ws, "HK-2", "bea@example.com").await;
        assert_eq!(
            s.k.passwords()
                .status(Some("bea@example.com"))
                .await
                .unwrap()[0]
                .state,
            "not_on_a_key"
        );
        // The user puts a password on the key alone: version 1, committed, value unknown.
        let after =
            s.k.agent()
                .user_change(&ws, "HK-2", "corp1", guid, UserChange::KeyOnly)
                .await
                .unwrap();
        assert_eq!(after.version, 1);
        // A user change in the domain needs the current value keyward does not know.
        assert!(matches!(
            s.k.agent()
                .user_change(
                    &ws,
                    "HK-2",
                    "corp1",
                    guid,
                    UserChange::KeyAndDomain(SecretString::new("Xy#12345678901234".into()))
                )
                .await,
            Err(Error::NotSupported(_))
        ));
        let employee = s.k.employees().find("bea@example.com").await.unwrap();
        s.store
            .upsert_account(&account(employee.id, guid, "bea", true))
            .await
            .unwrap();
        s.clock.advance(Duration::days(27));
        assert_eq!(s.k.passwords().rotate_expired().await.unwrap(), 0);
        s.clock.advance(Duration::days(2));
        assert_eq!(s.k.passwords().rotate_expired().await.unwrap(), 1);
        assert_eq!(
            s.k.passwords().rotate_expired().await.unwrap(),
            0,
            "one in flight"
        );
        let status =
            s.k.passwords()
                .status(Some("bea@example.com"))
                .await
                .unwrap();
        assert_eq!(
            (
                status[0].state.as_str(),
                status[0].reason.as_deref(),
                status[0].pending_version
            ),
            ("awaiting_key", Some("max_age"), Some(2))
        );
    }
}

#[tokio::test]
async fn deactivation_cancels_what_was_in_flight_and_compromise_rotates_without_the_key() {
    for s in setups().await {
        employee_with_account(&s, "cy@example.com", "cy", true).await;
        let guid = employee_with_account(&s, "di@example.com", "di", true).await;
        let (ws, _) = approved(&s, "WS-1").await;
        let proof3 = active_key(&s, &ws, "HK-3", "cy@example.com").await;
        active_key(&s, &ws, "HK-4", "di@example.com").await;

        s.k.keys()
            .deactivate("HK-3", "withdrawal", &Actor::Cli)
            .await
            .unwrap();
        let cy =
            &s.k.passwords()
                .status(Some("cy@example.com"))
                .await
                .unwrap()[0];
        assert_eq!(
            (cy.state.as_str(), cy.key_serial.as_deref()),
            ("idle", None)
        );
        assert!(cy.last_error.as_deref().unwrap().contains("deactivated"));
        // Deactivation released the holder: the wipe goes to the workstation that presents
        // the key's proof again, and only the proof confirms it.
        assert!(matches!(
            s.k.agent().pending(&ws, "HK-3").await,
            Err(Error::KeyNotHeld(_))
        ));
        let seen = s.k.agent().seen(&ws, "HK-3", Some(&proof3)).await.unwrap();
        assert!(seen.held);
        assert_eq!(
            s.k.agent().pending(&ws, "HK-3").await.unwrap().commands,
            vec!["wipe"]
        );
        let forged = SecretString::new("kwp_forged".into());
        assert!(matches!(
            s.k.agent()
                .acknowledge(&ws, "HK-3", Some(&forged), &[])
                .await,
            Err(Error::KeyProofRequired(_))
        ));
        assert_eq!(
            s.k.keys().show("HK-3").await.unwrap().key.status,
            KeyStatus::Deactivated
        );
        s.k.agent()
            .acknowledge(&ws, "HK-3", Some(&proof3), &[])
            .await
            .unwrap();
        let wiped = s.k.keys().show("HK-3").await.unwrap().key;
        assert_eq!(
            (wiped.status, wiped.linked_workstation),
            (KeyStatus::Ready, None),
            "a wiped key keeps nothing of its holder"
        );

        // A candidate the key acknowledged may be in the directory already: deactivating the
        // key lets its directory step go on, without the key.
        let eve = employee_with_account(&s, "eve@example.com", "eve", true).await;
        active_key(&s, &ws, "HK-5", "eve@example.com").await;
        let ack_eve = AckItem {
            directory: "corp1".into(),
            object_guid: eve,
            version: 1,
        };
        s.k.agent()
            .acknowledge(&ws, "HK-5", None, &[ack_eve])
            .await
            .unwrap();
        s.k.keys()
            .deactivate("HK-5", "withdrawal", &Actor::Cli)
            .await
            .unwrap();
        let eve_status =
            &s.k.passwords()
                .status(Some("eve@example.com"))
                .await
                .unwrap()[0];
        assert_eq!(
            (
                eve_status.state.as_str(),
                eve_status.key_serial.as_deref(),
                eve_status.pending_version
            ),
            ("awaiting_directory", None, Some(1))
        );

        let ack = AckItem {
            directory: "corp1".into(),
            object_guid: guid,
            version: 1,
        };
        s.k.agent()
            .acknowledge(&ws, "HK-4", None, &[ack])
            .await
            .unwrap();
        // Another worker holds di's directory step (it may be writing the acknowledged
        // candidate right now): the compromise's replacement must not run before that ends.
        let now = s.clock.now();
        let claim_end = now + Duration::minutes(10);
        let claimed = s
            .store
            .claim_directory_steps(now, claim_end, 10, &[("corp1".into(), eve)])
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].object_guid, guid);
        s.k.keys()
            .compromise("HK-4", "lost", &Actor::Cli)
            .await
            .unwrap();
        let di =
            &s.k.passwords()
                .status(Some("di@example.com"))
                .await
                .unwrap()[0];
        assert_eq!(
            (
                di.state.as_str(),
                di.key_serial.as_deref(),
                di.reason.as_deref()
            ),
            ("awaiting_directory", None, Some("key_compromised"))
        );
        // (PostgreSQL keeps microseconds.)
        let not_before = di.next_attempt_at.unwrap();
        assert!(
            (not_before - claim_end).num_milliseconds().abs() < 1,
            "{not_before} vs {claim_end}"
        );
        let history = s.k.keys().history("HK-4").await.unwrap();
        assert!(
            history
                .iter()
                .any(|r| r.record.detail["to"] == "compromised"),
            "{history:?}"
        );
    }
}

#[tokio::test]
async fn a_different_key_encryption_key_is_refused_at_once() {
    for s in setups().await {
        s.k.check_secrets().await.unwrap();
        let other = s.dir.path().join("other-kek");
        keyward_service::write_new_key_file(&other).unwrap();
        assert!(
            keyward_service::write_new_key_file(&other).is_err(),
            "overwrote a key file"
        );
        let mut settings = s.k.settings().clone();
        settings.secrets.key_file = Some(other);
        let wrong = Keyward::open(&settings).await.unwrap();
        let err = wrong.check_secrets().await.unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(err.to_string().contains("not the one"), "{err}");
    }
}

/// A passphrase KEK: the salt is made once and kept in the database, so the same passphrase
/// opens the same secrets later, and another passphrase is refused. (Cargo sets
/// `CARGO_MANIFEST_DIR` and `CARGO_PKG_NAME` for every test process: two environment variables
/// with values of at least 12 characters, without touching the environment.)
#[tokio::test]
async fn a_passphrase_key_encryption_key_is_stable_and_a_different_one_is_refused() {
    let db = TestDb::sqlite_file();
    let open = |var: &str| {
        let mut settings = Settings {
            database_url: db.url.clone(),
            ..Settings::default()
        };
        settings.secrets.passphrase_env = Some(var.to_owned());
        async move {
            Keyward::open_with(&settings, OpenMode::CreateIfEmpty)
                .await
                .unwrap()
        }
    };
    let first = open("CARGO_MANIFEST_DIR")
        .await
        .check_secrets()
        .await
        .unwrap();
    let again = open("CARGO_MANIFEST_DIR")
        .await
        .check_secrets()
        .await
        .unwrap();
    assert_eq!(
        first, again,
        "the same passphrase and stored salt give the same key"
    );
    let other = open("CARGO_PKG_NAME")
        .await
        .check_secrets()
        .await
        .unwrap_err();
    assert!(other.to_string().contains("not the one"), "{other}");
    let missing = open("KEYWARD_TEST_NO_SUCH_VARIABLE")
        .await
        .check_secrets()
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("is not set"), "{missing}");
}

#[tokio::test]
async fn a_lock_reported_by_the_holder_locks_the_key_and_stops_deliveries() {
    for s in setups().await {
        employee_with_account(&s, "flo@example.com", "flo", true).await;
        let agent = s.k.agent();
        let (ws, _) = approved(&s, "WS-1").await;
        let (other, _) = approved(&s, "WS-2").await;
        let proof = active_key(&s, &ws, "HK-6", "flo@example.com").await;
        assert_eq!(agent.pending(&ws, "HK-6").await.unwrap().accounts.len(), 1);

        // Only the workstation holding the key may report its lock.
        assert!(matches!(
            agent.lock(&other, "HK-6", "locked_by_invalid_pin").await,
            Err(Error::KeyNotHeld(_))
        ));
        assert_eq!(
            s.k.keys().show("HK-6").await.unwrap().key.status,
            KeyStatus::Active
        );
        // A reason the key lifecycle does not know is refused and changes nothing.
        assert!(agent.lock(&ws, "HK-6", "bored").await.is_err());
        assert_eq!(
            agent
                .lock(&ws, "HK-6", "locked_by_invalid_pin")
                .await
                .unwrap(),
            KeyStatus::Locked
        );
        // The lock released the holder; the key's proof makes it the holder again. A locked
        // key gets no password; the candidate waits for the key to be unlocked.
        assert!(matches!(
            agent.pending(&ws, "HK-6").await,
            Err(Error::KeyNotHeld(_))
        ));
        assert!(agent.seen(&ws, "HK-6", Some(&proof)).await.unwrap().held);
        let work = agent.pending(&ws, "HK-6").await.unwrap();
        assert_eq!(work.status, KeyStatus::Locked);
        assert!(work.accounts.is_empty());
        let status =
            s.k.passwords()
                .status(Some("flo@example.com"))
                .await
                .unwrap();
        assert_eq!(status[0].state, "awaiting_key");
        let history = s.k.keys().history("HK-6").await.unwrap();
        let lock = history
            .iter()
            .find(|r| r.record.detail["to"] == "locked")
            .unwrap();
        assert_eq!(lock.record.detail["reason"], "locked_by_invalid_pin");
        assert!(
            lock.record.actor.contains(&ws.id.to_string()),
            "{:?}",
            lock.record.actor
        );
        // Locking it again is an invalid transition, not a silent success.
        assert!(matches!(
            agent.lock(&ws, "HK-6", "locked_by_invalid_pin").await,
            Err(Error::InvalidTransition(_))
        ));
        // Another workstation may report the locked key without its proof, but does not hold
        // it: it gets neither its status commands nor, after an unlock, its passwords.
        assert!(!agent.seen(&other, "HK-6", None).await.unwrap().held);
        assert!(matches!(
            agent.pending(&other, "HK-6").await,
            Err(Error::KeyNotHeld(_))
        ));
    }
}

/// docs/operations.md, "Backup and restore" on SQLite: a `VACUUM INTO` backup taken while the
/// database is in use, then opened as a new database with the same key-encryption key, is
/// current (no migration needed) and its sealed passwords still open; with another key it is
/// refused.
#[tokio::test]
async fn a_vacuum_into_backup_opens_with_the_same_key_encryption_key_and_its_passwords_open() {
    let setups = setups().await;
    let s = &setups[0];
    assert!(s.k.settings().database_url.starts_with("sqlite://"));
    employee_with_account(s, "ada@example.com", "ada", true).await;
    let (ws, _) = approved(s, "WS-1").await;
    active_key(s, &ws, "HK-1", "ada@example.com").await;
    let work = s.k.agent().pending(&ws, "HK-1").await.unwrap();
    let password = work.accounts[0]
        .password
        .as_ref()
        .unwrap()
        .expose()
        .to_owned();

    let backup = s.dir.path().join("backup.db");
    keyward_test_support::execute_sql(
        &s.k.settings().database_url,
        &format!("VACUUM INTO '{}'", backup.display()),
    )
    .await;

    let mut restored_settings = s.k.settings().clone();
    restored_settings.database_url = format!("sqlite://{}?mode=rwc", backup.display());
    let restored = Keyward::open(&restored_settings).await.unwrap();
    restored.check_secrets().await.unwrap();
    let work = restored.agent().pending(&ws, "HK-1").await.unwrap();
    assert_eq!(
        work.accounts[0].password.as_ref().unwrap().expose(),
        password,
        "the restored candidate opens to the same password"
    );
    restored.close().await.unwrap();

    let other = s.dir.path().join("other-kek");
    keyward_service::write_new_key_file(&other).unwrap();
    restored_settings.secrets.key_file = Some(other);
    let wrong = Keyward::open(&restored_settings).await.unwrap();
    let err = wrong.check_secrets().await.unwrap_err();
    assert!(err.to_string().contains("not the one"), "{err}");
}
