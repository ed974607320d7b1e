//! The hostile workstation, played the way an attacker plays it: HTTP against the built server,
//! with an approved workstation credential of its own, against a real Samba AD.
//!
//! Each test is one attack on the promise that only the key knows the password: taking a key
//! over through a helpdesk resume, keeping a reused key's previous holder, racing `seen`
//! against a real activation, acknowledging a Suspended key's pending version, forging a wipe,
//! and guessing activation codes in parallel. Each asserts what the attacker must not get.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

#[path = "support/target.rs"]
mod target;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use keyward_test_support::{FIXTURE_PASSWORD, TestDb, lab, lab_can_bind, lab_fixture};
use serde_json::{Value, json};
use target::{Target, passwords_in, seen_path};

/// The databases each attack runs on.
async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![TestDb::sqlite_file()];
    if let Some(pg) = TestDb::postgres().await {
        dbs.push(pg);
    }
    dbs
}

/// A hostile workstation reports a Suspended key by its serial; the helpdesk resumes the key
/// with `keyward keys activate SERIAL --code CODE`; the next rotation's password must not go to
/// the hostile workstation.
#[tokio::test(flavor = "multi_thread")]
async fn a_helpdesk_resume_does_not_hand_the_key_to_a_workstation_that_reported_its_serial() {
    let Some(lab) = lab() else { return };
    for db in databases().await {
        let fixture = lab_fixture(&lab, 1, "atk1", &["ann"], None);
        let email = fixture.users[0].mail.clone();
        let t = Target::start(lab.clone(), &fixture, &db.url);
        let good = t.workstation("WS-ANN").await;
        let evil = t.workstation("WS-EVIL").await;
        let code = t.assign("AK-1", &email);
        let proof = t.activate_on(&good, "AK-1", &code).await;
        // The first rotation, through the holder.
        let (_, work) = t.pending(&good, "AK-1").await;
        let version = work["accounts"][0]["version"].as_i64().unwrap();
        let item = json!({ "directory": "corp1", "object_guid": work["accounts"][0]["object_guid"], "version": version });
        t.call(
            "POST",
            "/api/v1/agent/keys/AK-1/ack",
            &good,
            Some(json!({ "accounts": [item] })),
            None,
        )
        .await;
        t.wait_for(&email, "committed", |s| {
            s["state"] == "idle" && s["version"] == version
        });

        let resume_code = t.cli(&["keys", "suspend", "AK-1"])["activation_code"]
            .as_str()
            .unwrap()
            .to_owned();
        // The attacker reads the serial off the key and reports it.
        let (status, body) = t.call("POST", &seen_path("AK-1"), &evil, None, None).await;
        assert_eq!(status, 200, "{body}");
        t.cli(&["keys", "activate", "AK-1", "--code", &resume_code]);
        t.cli(&["passwords", "rotate", "--employee", &email]);
        let (status, body) = t.pending(&evil, "AK-1").await;
        assert!(
            passwords_in(&body).is_empty(),
            "{}: the hostile workstation got the new password ({status})",
            db.label
        );
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("key_not_held")),
            "{body}"
        );
        // The workstation with the key in hand proves it with the key proof and gets it.
        let (status, body) = t
            .call("POST", &seen_path("AK-1"), &good, None, Some(&proof))
            .await;
        assert_eq!(
            (status, body["held"].as_bool()),
            (200, Some(true)),
            "{body}"
        );
        let (status, body) = t.pending(&good, "AK-1").await;
        assert_eq!((status, passwords_in(&body).len()), (200, 1), "{body}");
    }
}

/// A key is deactivated, wiped and handed to someone else: the previous holder, with the proof
/// it kept from before, gets nothing of the new owner, whoever activates the key.
#[tokio::test(flavor = "multi_thread")]
async fn a_reused_key_carries_nothing_of_its_previous_holder() {
    let Some(lab) = lab() else { return };
    let db = TestDb::sqlite_file();
    let fixture = lab_fixture(&lab, 1, "atk2", &["ann", "bob"], None);
    let (ann, bob) = (fixture.users[0].mail.clone(), fixture.users[1].mail.clone());
    let t = Target::start(lab.clone(), &fixture, &db.url);
    let old = t.workstation("WS-ANN").await;
    let code = t.assign("AK-2", &ann);
    let old_proof = t.activate_on(&old, "AK-2", &code).await;
    t.cli(&["keys", "deactivate", "AK-2", "--reason", "withdrawal"]);
    t.call("POST", &seen_path("AK-2"), &old, None, Some(&old_proof))
        .await;
    let (status, body) = t
        .call(
            "POST",
            "/api/v1/agent/keys/AK-2/ack",
            &old,
            Some(json!({ "wiped": true })),
            Some(&old_proof),
        )
        .await;
    assert_eq!(
        status, 200,
        "the holder confirms the wipe with the proof: {body}"
    );
    assert_eq!(
        t.cli(&["keys", "show", "AK-2"])["holder_workstation"],
        Value::Null
    );

    let code = t.assign("AK-2", &bob);
    // The helpdesk may try to activate it for Bob; if that is allowed, it must not revive the
    // old holder. Bob then types the code on his own workstation.
    let (admin_activated, _) = t.cli_result(&["keys", "activate", "AK-2", "--code", &code]);
    if !admin_activated {
        let new = t.workstation("WS-BOB").await;
        t.activate_on(&new, "AK-2", &code).await;
    }
    t.wait_for(&bob, "awaiting the key", |s| s["state"] == "awaiting_key");
    // The previous holder tries everything it has.
    let (status, body) = t
        .call("POST", &seen_path("AK-2"), &old, None, Some(&old_proof))
        .await;
    assert_ne!(
        body["held"],
        Value::Bool(true),
        "the old proof still works ({status}): {body}"
    );
    let (status, body) = t.pending(&old, "AK-2").await;
    assert!(
        passwords_in(&body).is_empty(),
        "the previous holder got the new owner's password ({status})"
    );
}

/// While the user activates the key on their workstation, a hostile workstation floods `seen`
/// for the same serial: it never ends up holding the Active key.
#[tokio::test(flavor = "multi_thread")]
async fn racing_seen_against_a_real_activation_never_wins_the_key() {
    let Some(lab) = lab() else { return };
    for db in databases().await {
        let fixture = lab_fixture(&lab, 1, "atk3", &["ann"], None);
        let email = fixture.users[0].mail.clone();
        let t = Arc::new(Target::start(lab.clone(), &fixture, &db.url));
        let good = t.workstation("WS-ANN").await;
        let evil = Arc::new(t.workstation("WS-EVIL").await);
        for round in 0..3 {
            let serial = format!("AK-3{round}");
            let code = t.assign(&serial, &email);
            let stop = Arc::new(AtomicBool::new(false));
            let racers: Vec<_> = (0..8)
                .map(|_| {
                    let (t, evil, stop, serial) =
                        (t.clone(), evil.clone(), stop.clone(), serial.clone());
                    tokio::spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            t.call("POST", &seen_path(&serial), &evil, None, None).await;
                        }
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(100)).await;
            t.activate_on(&good, &serial, &code).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            stop.store(true, Ordering::Relaxed);
            for racer in racers {
                racer.await.unwrap();
            }
            let (status, body) = t.pending(&evil, &serial).await;
            assert!(
                passwords_in(&body).is_empty() && status == 409,
                "{} round {round}: the racer holds the key ({status}): {body}",
                db.label
            );
            let (status, body) = t.pending(&good, &serial).await;
            assert_eq!(status, 200, "{} round {round}: {body}", db.label);
            // Back to stock for the next round.
            t.cli(&["keys", "deactivate", &serial, "--reason", "withdrawal"]);
            t.cli(&["keys", "confirm-wipe", &serial]);
        }
    }
}

/// A Suspended key's pending version is acknowledged: the directory must not change, since the
/// key is not in use by its owner.
#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledgement_for_a_suspended_key_changes_nothing() {
    let Some(lab) = lab() else { return };
    let db = TestDb::sqlite_file();
    let fixture = lab_fixture(&lab, 1, "atk4", &["ann"], None);
    let user = fixture.users[0].clone();
    let t = Target::start(lab.clone(), &fixture, &db.url);
    let ws = t.workstation("WS-ANN").await;
    let code = t.assign("AK-4", &user.mail);
    t.activate_on(&ws, "AK-4", &code).await;
    let (_, work) = t.pending(&ws, "AK-4").await;
    let item = json!({
        "directory": "corp1",
        "object_guid": work["accounts"][0]["object_guid"],
        "version": work["accounts"][0]["version"],
    });
    t.cli(&["keys", "suspend", "AK-4"]);
    let (status, body) = t
        .call(
            "POST",
            "/api/v1/agent/keys/AK-4/ack",
            &ws,
            Some(json!({ "accounts": [item] })),
            None,
        )
        .await;
    assert_ne!(
        body["accepted"],
        json!(1),
        "the acknowledgement was accepted ({status})"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(t.password_state(&user.mail)["state"], "awaiting_key");
    assert!(
        lab_can_bind(&t.lab, 1, &user.dn, FIXTURE_PASSWORD),
        "the directory password changed for a suspended key"
    );
}

/// A workstation that never had a Deactivated key reports it wiped, to return it to stock.
#[tokio::test(flavor = "multi_thread")]
async fn a_forged_wipe_leaves_the_key_deactivated() {
    let Some(lab) = lab() else { return };
    let db = TestDb::sqlite_file();
    let fixture = lab_fixture(&lab, 1, "atk5", &["ann"], None);
    let t = Target::start(lab.clone(), &fixture, &db.url);
    let good = t.workstation("WS-ANN").await;
    let evil = t.workstation("WS-EVIL").await;
    let code = t.assign("AK-5", &fixture.users[0].mail);
    t.activate_on(&good, "AK-5", &code).await;
    t.cli(&["keys", "deactivate", "AK-5", "--reason", "lost"]);
    for proof in [None, Some("kwp_forged")] {
        t.call("POST", &seen_path("AK-5"), &evil, None, proof).await;
        let (status, body) = t
            .call(
                "POST",
                "/api/v1/agent/keys/AK-5/ack",
                &evil,
                Some(json!({ "wiped": true })),
                proof,
            )
            .await;
        assert!(status == 403 || status == 409, "{status}: {body}");
        assert_eq!(t.cli(&["keys", "show", "AK-5"])["status"], "deactivated");
    }
}

/// An attacker with an approved workstation guesses a Reserved key's code with many parallel
/// requests: every guess counts, so no more than the allowed attempts are ever compared.
#[tokio::test(flavor = "multi_thread")]
async fn parallel_code_guesses_each_count_an_attempt() {
    let Some(lab) = lab() else { return };
    for db in databases().await {
        let fixture = lab_fixture(&lab, 1, "atk6", &["ann"], None);
        let t = Arc::new(Target::start(lab.clone(), &fixture, &db.url));
        let evil = Arc::new(t.workstation("WS-EVIL").await);
        let code = t.assign("AK-6", &fixture.users[0].mail);
        t.call("POST", &seen_path("AK-6"), &evil, None, None).await;
        let guesses: Vec<_> = (0..24u32)
            .map(|i| {
                let guess = format!(
                    "{:08}",
                    (code.parse::<u32>().unwrap() + 1 + i) % 100_000_000
                );
                let (t, evil) = (t.clone(), evil.clone());
                tokio::spawn(async move {
                    t.call(
                        "POST",
                        "/api/v1/agent/keys/AK-6/activate",
                        &evil,
                        Some(json!({ "code": guess })),
                        None,
                    )
                    .await
                })
            })
            .collect();
        let mut codes = Vec::new();
        for guess in guesses {
            let (_, body) = guess.await.unwrap();
            codes.push(body["error"]["code"].as_str().unwrap_or("none").to_owned());
        }
        // Every guess is either compared and counted (wrong, or the last one, which locks the
        // key) or refused uncompared because the attempts are used up. A guess that was
        // compared but lost the race to be counted (a concurrent change) was a free guess.
        let allowed = [
            "wrong_activation_code",
            "activation_attempts_exhausted",
            "invalid_transition",
        ];
        assert!(
            codes.iter().all(|c| allowed.contains(&c.as_str())),
            "{}: answers outside the attempt rules: {codes:?}",
            db.label
        );
        let wrong = codes
            .iter()
            .filter(|c| *c == "wrong_activation_code")
            .count();
        assert!(
            wrong <= 2,
            "{}: {wrong} guesses were compared as 'wrong' with attempts left: {codes:?}",
            db.label
        );
        let history = t.cli(&["keys", "history", "AK-6"]);
        let compared = history
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "key.activation_code_rejected")
            .count();
        assert!(
            compared <= 3,
            "{}: {compared} wrong codes were compared",
            db.label
        );
        assert_eq!(
            t.cli(&["keys", "show", "AK-6"])["status"],
            "locked",
            "{}",
            db.label
        );
    }
}
