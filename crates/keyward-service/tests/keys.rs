//! Key lifecycle operations on every storage backend: codes, races, limits and the audit trail.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::sync::Arc;

use chrono::{Duration, Utc};
use keyward_keys::KeyStatus;
use keyward_service::{Actor, Error, Keyward, ManualClock, OpenMode, Settings, Workstation};
use keyward_test_support::TestDb;

async fn open_all() -> Vec<(TestDb, Keyward, ManualClock)> {
    let mut out = Vec::new();
    for db in TestDb::all().await {
        let settings = Settings {
            database_url: db.url.clone(),
            ..Settings::default()
        };
        let clock = ManualClock::starting_at(Utc::now());
        let keyward = Keyward::open_with(&settings, OpenMode::CreateIfEmpty)
            .await
            .unwrap()
            .with_clock(Arc::new(clock.clone()));
        out.push((db, keyward, clock));
    }
    out
}

/// An approved workstation, on which users type their codes.
async fn workstation(k: &Keyward) -> Workstation {
    let (ws, _) = k.agent().register("WS-1").await.unwrap();
    k.agent()
        .approve(&ws.id.to_string(), &Actor::Cli)
        .await
        .unwrap()
}

/// The user types `code` for `serial` on `ws`.
async fn type_code(
    k: &Keyward,
    ws: &Workstation,
    serial: &str,
    code: &str,
) -> Result<KeyStatus, Error> {
    k.agent().activate(ws, serial, code).await.map(|a| a.status)
}

fn wrong_code(right: &str) -> String {
    right
        .chars()
        .map(|c| if c == '9' { '0' } else { '9' })
        .collect()
}

#[tokio::test]
async fn codes_activate_count_wrong_tries_lock_and_expire() {
    for (db, k, clock) in open_all().await {
        let l = db.label;
        let actor = Actor::Cli;
        k.employees()
            .create("ada@example.com", "Ada", &actor)
            .await
            .unwrap();
        k.keys()
            .import(&["st-1".into(), "st-2".into(), "st-3".into()], &actor)
            .await
            .unwrap();

        // Wrong twice, then right: activated.
        let issued = k
            .keys()
            .assign("st-1", "ada@example.com", &actor)
            .await
            .unwrap();
        let code = issued.activation_code.expose().to_owned();
        assert_eq!(code.len(), 8, "{l}");
        assert_eq!(issued.key.key.status, KeyStatus::Reserved);
        // An administrator cannot activate the key (it would be held by no workstation), and
        // the refusal counts no attempt.
        let err = k.keys().activate("st-1", &code, &actor).await.unwrap_err();
        assert!(matches!(err, Error::InvalidTransition(_)), "{l}: {err}");
        let ws = workstation(&k).await;
        for left in [2, 1] {
            let err = type_code(&k, &ws, "ST-1", &wrong_code(&code))
                .await
                .unwrap_err();
            assert!(
                matches!(err, Error::WrongActivationCode { attempts_left } if attempts_left == left),
                "{l}: {err}"
            );
        }
        let active = type_code(&k, &ws, "st-1", &code).await.unwrap();
        assert_eq!(active, KeyStatus::Active, "{l}");
        let again = type_code(&k, &ws, "st-1", &code).await.unwrap_err();
        assert!(
            matches!(again, Error::InvalidTransition(_)),
            "{l}: a used code activates nothing: {again}"
        );

        // Deactivate, wipe, and give the key to someone else; exhaust the attempts: Locked.
        k.keys()
            .deactivate("st-1", "withdrawal", &actor)
            .await
            .unwrap();
        k.keys().confirm_wipe("st-1", &actor).await.unwrap();
        k.employees()
            .create("bob@example.com", "Bob", &actor)
            .await
            .unwrap();
        let issued = k
            .keys()
            .assign("st-1", "bob@example.com", &actor)
            .await
            .unwrap();
        let code = issued.activation_code.expose().to_owned();
        for _ in 0..2 {
            type_code(&k, &ws, "st-1", &wrong_code(&code))
                .await
                .unwrap_err();
        }
        let err = type_code(&k, &ws, "st-1", &wrong_code(&code))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::ActivationAttemptsExhausted),
            "{l}: {err}"
        );
        let locked = k.keys().show("st-1").await.unwrap();
        assert_eq!(locked.key.status, KeyStatus::Locked, "{l}");
        assert_eq!(
            locked.key.reason.unwrap().as_str(),
            "invalid_activation_code"
        );
        assert_eq!(
            locked.owner.unwrap().email.unwrap().as_str(),
            "bob@example.com",
            "{l}: a locked key keeps its owner"
        );
        let err = type_code(&k, &ws, "st-1", &code).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidTransition(_)),
            "{l}: the old code is gone: {err}"
        );

        // Unlock gives a new code. The key never had a proof (Bob never activated it), so an
        // administrator cannot resume it; the user resumes it on the workstation.
        let unlocked = k.keys().unlock("st-1", &actor).await.unwrap();
        assert_eq!(unlocked.key.key.status, KeyStatus::Suspended);
        let err = k
            .keys()
            .submit_code("st-1", unlocked.activation_code.expose(), &actor)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidTransition(_)), "{l}: {err}");
        let resumed = type_code(&k, &ws, "st-1", unlocked.activation_code.expose())
            .await
            .unwrap();
        assert_eq!(resumed, KeyStatus::Active, "{l}");

        // Expiry: refused without counting an attempt, the key stays Reserved.
        k.employees()
            .create("cy@example.com", "Cy", &actor)
            .await
            .unwrap();
        let issued = k
            .keys()
            .assign("st-2", "cy@example.com", &actor)
            .await
            .unwrap();
        clock.advance(Duration::hours(72) + Duration::seconds(1));
        let err = type_code(&k, &ws, "st-2", issued.activation_code.expose())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ActivationCodeExpired), "{l}: {err}");
        assert_eq!(
            k.keys().show("st-2").await.unwrap().key.status,
            KeyStatus::Reserved,
            "{l}"
        );

        // A code never reaches the audit log.
        for serial in ["st-1", "st-2"] {
            let history = serde_json::to_string(&k.keys().history(serial).await.unwrap()).unwrap();
            assert!(!history.contains(issued.activation_code.expose()), "{l}");
            assert!(!history.contains(unlocked.activation_code.expose()), "{l}");
        }
    }
}

#[tokio::test]
async fn history_holds_every_transition_in_order() {
    for (db, k, _) in open_all().await {
        let actor = Actor::Cli;
        k.employees()
            .create("ada@example.com", "Ada", &actor)
            .await
            .unwrap();
        k.keys().import(&["h1".into()], &actor).await.unwrap();
        let code = k
            .keys()
            .assign("h1", "ada@example.com", &actor)
            .await
            .unwrap()
            .activation_code;
        let ws = workstation(&k).await;
        type_code(&k, &ws, "h1", code.expose()).await.unwrap();
        k.keys()
            .lock("h1", "locked_by_invalid_pin", &actor)
            .await
            .unwrap();
        k.keys().deactivate("h1", "broken", &actor).await.unwrap();
        assert!(
            k.keys().unlock("h1", &actor).await.is_err(),
            "refused steps leave no record"
        );
        k.keys().compromise("h1", "stolen", &actor).await.unwrap();
        k.keys().delete("h1", &actor).await.unwrap();
        let history = k.keys().history("h1").await.unwrap();
        let steps: Vec<(String, String, String)> = history
            .iter()
            .map(|r| {
                let d = &r.record.detail;
                (
                    r.record.action.clone(),
                    d["from"].as_str().unwrap_or("-").into(),
                    d["to"].as_str().unwrap_or("-").into(),
                )
            })
            .collect();
        let expected: Vec<(String, String, String)> = [
            ("key.import", "-", "ready"),
            ("key.assign", "ready", "reserved"),
            ("key.activate", "reserved", "active"),
            ("key.lock", "active", "locked"),
            ("key.deactivate", "locked", "deactivated"),
            ("key.mark_compromised", "deactivated", "compromised"),
            ("key.delete", "compromised", "-"),
        ]
        .iter()
        .map(|(a, f, t)| ((*a).into(), (*f).into(), (*t).into()))
        .collect();
        assert_eq!(steps, expected, "{}", db.label);
        let by_workstation = format!("workstation:{}", ws.id);
        assert!(history.iter().all(|r| {
            let expected = if r.record.action == "key.activate" {
                by_workstation.as_str()
            } else {
                "cli"
            };
            r.record.actor == expected
        }));
        // The key held no password, so marking it compromised had nothing to rotate.
        assert_eq!(
            history[5].record.detail["follow_ups"],
            serde_json::json!([])
        );
        assert!(
            matches!(k.keys().show("h1").await, Err(Error::NotFound { .. })),
            "{}",
            db.label
        );
    }
}

#[tokio::test]
async fn two_conflicting_operations_on_one_key_exactly_one_wins() {
    for (db, k, _) in open_all().await {
        let actor = Actor::Cli;
        let serials: Vec<String> = (0..8).map(|i| format!("race-{i}")).collect();
        k.keys().import(&serials, &actor).await.unwrap();
        let ws = workstation(&k).await;
        for (i, serial) in serials.iter().enumerate() {
            k.employees()
                .create(&format!("p{i}@example.com"), "P", &actor)
                .await
                .unwrap();
            let code = k
                .keys()
                .assign(serial, &format!("p{i}@example.com"), &actor)
                .await
                .unwrap()
                .activation_code;
            type_code(&k, &ws, serial, code.expose()).await.unwrap();
            // Lock and suspend exclude each other in either order (neither status allows the
            // other event), so exactly one wins whether the two really overlap (the loser sees
            // a concurrent change) or one happens to finish first (the loser sees an invalid
            // transition).
            let keys = k.keys();
            let (a, b) = tokio::join!(
                keys.lock(serial, "admin", &actor),
                keys.suspend(serial, "away", &actor),
            );
            let wins = usize::from(a.is_ok()) + usize::from(b.is_ok());
            assert_eq!(wins, 1, "{}: {a:?} / {b:?}", db.label);
            let loser = a.err().or(b.err()).unwrap();
            assert!(
                matches!(
                    loser,
                    Error::ConcurrentChange(_) | Error::InvalidTransition(_)
                ),
                "{}: the loser is a conflict: {loser}",
                db.label
            );
            let history = k.keys().history(serial).await.unwrap();
            let last = &history.last().unwrap().record.action;
            let status = k.keys().show(serial).await.unwrap().key.status;
            match status {
                KeyStatus::Locked => assert_eq!(last, "key.lock"),
                KeyStatus::Suspended => assert_eq!(last, "key.suspend"),
                other => panic!("{}: unexpected {other}", db.label),
            }
            assert_eq!(
                history.len(),
                4,
                "{}: import, assign, activate and the one winner",
                db.label
            );
        }
    }
}

#[tokio::test]
async fn imports_are_all_or_nothing_and_employees_hold_one_key() {
    for (db, k, _) in open_all().await {
        let l = db.label;
        let actor = Actor::Cli;
        k.keys().import(&["a1".into()], &actor).await.unwrap();
        let err = k
            .keys()
            .import(&["a2".into(), "A1".into()], &actor)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{l}: {err}");
        let err = k
            .keys()
            .import(&["a3".into(), "A3".into()], &actor)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::GivenTwice { .. }), "{l}: {err}");
        assert_eq!(err.to_string(), "serial A3 is given twice", "{l}");
        let err = k
            .keys()
            .import(&["bad serial".into()], &actor)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{l}: {err}");
        let all = k.keys().list(None, None, None).await.unwrap();
        assert_eq!(all.items.len(), 1, "{l}: failed imports wrote nothing");

        k.keys().import(&["a2".into()], &actor).await.unwrap();
        k.employees()
            .create("ada@example.com", "Ada", &actor)
            .await
            .unwrap();
        k.keys()
            .assign("a1", "ada@example.com", &actor)
            .await
            .unwrap();
        let err = k
            .keys()
            .assign("a2", "ada@example.com", &actor)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::LimitReached(_)), "{l}: {err}");
        let err = k
            .keys()
            .assign("a2", "nobody@example.com", &actor)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{l}: {err}");
        let err = k
            .keys()
            .assign("zz", "ada@example.com", &actor)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{l}: {err}");
        assert_eq!(
            k.keys()
                .list(Some("reserved"), None, None)
                .await
                .unwrap()
                .items
                .len(),
            1,
            "{l}"
        );
        assert!(
            matches!(
                k.keys().list(Some("bogus"), None, None).await,
                Err(Error::InvalidInput(_))
            ),
            "{l}"
        );

        let err = k
            .keys()
            .compromise("a2", "broken", &actor)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput(_)),
            "{l}: reason must fit: {err}"
        );
    }
}
