//! The outbox and invitations on every backend (SQLite in memory, an SQLite file, PostgreSQL):
//! claims fence the outcome a sender records, every link made for an invitation works until it
//! ends, and administrators' resend and revoke.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use keyward_model::{DisplayName, Email, NewAuditRecord, NewEmployee};
use keyward_store::{InvitationChange, NewInvitation, OutboxMessage, Store, SyncWrite};
use keyward_test_support::TestDb;
use uuid::Uuid;

async fn fresh_stores() -> Vec<(&'static str, Store, TestDb)> {
    let mut out = Vec::new();
    for db in TestDb::all().await {
        let store = Store::connect(&db.url).await.expect("connect");
        store.migrate().await.expect("migrate");
        out.push((db.label, store, db));
    }
    out
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap()
}

/// The audit record of an administrator's change to invitation `id`.
fn admin_record(action: &str, id: Uuid) -> NewAuditRecord {
    NewAuditRecord {
        actor: "token:helpdesk".into(),
        action: action.into(),
        subject: format!("invitation:{id}"),
        detail: serde_json::json!({}),
        at: t0(),
    }
}

/// An employee with one pending invitation (and its queued message); returns the invitation id.
async fn invited(store: &Store, email: &str) -> Uuid {
    let audit = NewAuditRecord {
        actor: "test".into(),
        action: "employee.created".into(),
        subject: email.into(),
        detail: serde_json::json!({}),
        at: t0(),
    };
    let employee = store
        .create_employee(
            &NewEmployee {
                email: Email::parse(email).unwrap(),
                display_name: DisplayName::parse("Someone").unwrap(),
            },
            t0(),
            &audit,
        )
        .await
        .unwrap();
    // A sync write queues its invitations at the time of its first audit record.
    store
        .apply_sync(&SyncWrite {
            invitations: vec![NewInvitation {
                employee_id: employee.id,
                recipient: email.into(),
                expires_at: t0() + Duration::days(7),
            }],
            audits: vec![audit],
            ..SyncWrite::default()
        })
        .await
        .unwrap();
    store
        .list_invitations()
        .await
        .unwrap()
        .into_iter()
        .find(|(i, _)| i.employee_id == employee.id)
        .unwrap()
        .0
        .id
}

/// Claims the one due message at `now` for a minute. The claim ends at a fraction of a second
/// finer than PostgreSQL keeps, as a clock's time does: the fencing value must survive that.
async fn claim(store: &Store, now: DateTime<Utc>) -> OutboxMessage {
    let until = now + Duration::seconds(60) + Duration::nanoseconds(123_456_789);
    let mut claimed = store.claim_due_messages(now, until, 10, &[]).await.unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    claimed.pop().unwrap()
}

async fn link_of(store: &Store, hash: &str) -> Option<Uuid> {
    store
        .invitation_by_token_hash(hash)
        .await
        .unwrap()
        .map(|i| i.id)
}

#[tokio::test]
async fn a_message_sent_twice_after_a_crash_leaves_two_working_links_until_accepted() {
    for (label, store, _db) in fresh_stores().await {
        let id = invited(&store, "ada@example.com").await;

        // The first sender makes a link, hands the message to SMTP and dies before recording it.
        let first = claim(&store, t0()).await;
        let first_claim = first.claimed_until.unwrap();
        assert!(
            store
                .add_invitation_link(id, "hash-1", first.id, first_claim, t0())
                .await
                .unwrap()
        );

        // Its claim runs out; a second sender takes the message over and sends it again.
        let later = t0() + Duration::seconds(90);
        let second = claim(&store, later).await;
        assert_eq!(
            second.id, first.id,
            "{label}: the same message, the same Message-ID"
        );
        let second_claim = second.claimed_until.unwrap();
        assert_ne!(second_claim, first_claim);
        assert!(
            store
                .add_invitation_link(id, "hash-2", second.id, second_claim, later)
                .await
                .unwrap()
        );

        // Both copies' links work: whichever copy the receiver keeps.
        assert_eq!(link_of(&store, "hash-1").await, Some(id), "{label}");
        assert_eq!(link_of(&store, "hash-2").await, Some(id), "{label}");

        // The first sender cannot add a link or record anything any more.
        assert!(
            !store
                .add_invitation_link(id, "hash-stale", first.id, first_claim, later)
                .await
                .unwrap(),
            "{label}"
        );
        assert_eq!(link_of(&store, "hash-stale").await, None, "{label}");
        assert!(
            store
                .mark_message_sent(second.id, second_claim, later)
                .await
                .unwrap()
        );

        // Accepting through either link uses the invitation up for both.
        assert!(store.accept_invitation(id, later).await.unwrap(), "{label}");
        assert!(
            !store.accept_invitation(id, later).await.unwrap(),
            "{label}"
        );
        for hash in ["hash-1", "hash-2"] {
            let inv = store.invitation_by_token_hash(hash).await.unwrap().unwrap();
            assert_eq!(inv.status, "accepted", "{label}: {hash}");
        }

        // An accepted invitation is neither revoked nor resent.
        assert_eq!(
            store
                .revoke_invitation(id, &admin_record("invitation.revoked", id))
                .await
                .unwrap(),
            InvitationChange::AlreadyAccepted,
            "{label}"
        );
        assert_eq!(
            store
                .resend_invitation(
                    id,
                    "ada@example.com",
                    later + Duration::days(7),
                    later,
                    &admin_record("invitation.resent", id)
                )
                .await
                .unwrap(),
            InvitationChange::AlreadyAccepted,
            "{label}"
        );
        assert_eq!(
            store.invitation(id).await.unwrap().unwrap().status,
            "accepted"
        );
        assert!(
            store
                .list_audit(Some(&format!("invitation:{id}")), 0, 100)
                .await
                .unwrap()
                .is_empty(),
            "{label}: a refused change records nothing"
        );
        assert!(matches!(
            store
                .revoke_invitation(
                    Uuid::now_v7(),
                    &admin_record("invitation.revoked", Uuid::nil())
                )
                .await,
            Err(keyward_store::Error::NotFound { .. })
        ));
    }
}

#[tokio::test]
async fn resend_replaces_the_links_and_revoke_deletes_them_and_cancels_a_message_in_flight() {
    for (label, store, _db) in fresh_stores().await {
        let id = invited(&store, "bob@example.com").await;
        let first = claim(&store, t0()).await;
        let first_claim = first.claimed_until.unwrap();
        store
            .add_invitation_link(id, "old", first.id, first_claim, t0())
            .await
            .unwrap();
        store
            .mark_message_sent(first.id, first_claim, t0())
            .await
            .unwrap();

        // An administrator's resend: the old link stops working, a new message is queued.
        let now = t0() + Duration::hours(1);
        assert_eq!(
            store
                .resend_invitation(
                    id,
                    "bob@example.com",
                    now + Duration::days(7),
                    now,
                    &admin_record("invitation.resent", id)
                )
                .await
                .unwrap(),
            InvitationChange::Done
        );
        assert_eq!(link_of(&store, "old").await, None, "{label}");
        let resent = claim(&store, now).await;
        assert_ne!(resent.id, first.id);
        let resent_claim = resent.claimed_until.unwrap();
        store
            .add_invitation_link(id, "new", resent.id, resent_claim, now)
            .await
            .unwrap();
        assert_eq!(link_of(&store, "new").await, Some(id), "{label}");

        // Revoked while the message is being sent: the link goes, the message is cancelled, and
        // its sender can neither add a link nor record the message as sent.
        assert_eq!(
            store
                .revoke_invitation(id, &admin_record("invitation.revoked", id))
                .await
                .unwrap(),
            InvitationChange::Done
        );
        assert_eq!(link_of(&store, "new").await, None, "{label}");
        // Both administrator changes are audited under their actor, in order.
        let trail: Vec<(String, String)> = store
            .list_audit(Some(&format!("invitation:{id}")), 0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.record.action, r.record.actor))
            .collect();
        assert_eq!(
            trail,
            [
                ("invitation.resent".to_owned(), "token:helpdesk".to_owned()),
                ("invitation.revoked".to_owned(), "token:helpdesk".to_owned()),
            ],
            "{label}"
        );
        let cancelled = store.message(resent.id).await.unwrap().unwrap();
        assert_eq!(cancelled.status, "cancelled", "{label}");
        assert!(
            !store
                .add_invitation_link(id, "late", resent.id, resent_claim, now)
                .await
                .unwrap(),
            "{label}"
        );
        assert!(
            !store
                .mark_message_sent(resent.id, resent_claim, now)
                .await
                .unwrap(),
            "{label}"
        );
        assert_eq!(
            store.message(resent.id).await.unwrap().unwrap().status,
            "cancelled",
            "{label}"
        );
        assert_eq!(
            store.invitation(id).await.unwrap().unwrap().status,
            "revoked"
        );
    }
}

#[tokio::test]
async fn a_sender_whose_claim_ran_out_cannot_overwrite_the_outcome_of_the_next() {
    for (label, store, _db) in fresh_stores().await {
        invited(&store, "carol@example.com").await;
        let slow = claim(&store, t0()).await;
        let slow_claim = slow.claimed_until.unwrap();
        let later = t0() + Duration::seconds(90);
        let fast = claim(&store, later).await;
        let fast_claim = fast.claimed_until.unwrap();
        assert!(
            store
                .mark_message_sent(fast.id, fast_claim, later)
                .await
                .unwrap()
        );

        // The slow sender's late failure must not queue the sent message again, nor its late
        // success or cancellation count a second time.
        assert!(
            !store
                .mark_message_failed(slow.id, slow_claim, "timeout", later, false)
                .await
                .unwrap(),
            "{label}"
        );
        assert!(
            !store
                .mark_message_sent(slow.id, slow_claim, later)
                .await
                .unwrap(),
            "{label}"
        );
        assert!(
            !store
                .cancel_message(slow.id, slow_claim, "void")
                .await
                .unwrap(),
            "{label}"
        );
        let message = store.message(slow.id).await.unwrap().unwrap();
        assert_eq!(
            (
                message.status.as_str(),
                message.attempts,
                message.last_error
            ),
            ("sent", 1, None),
            "{label}"
        );
        assert!(
            store
                .claim_due_messages(later, later + Duration::seconds(60), 10, &[])
                .await
                .unwrap()
                .is_empty(),
            "{label}: nothing is due again"
        );
    }
}

#[tokio::test]
async fn failures_are_retried_then_given_up_and_a_cancelled_message_keeps_its_reason() {
    for (label, store, _db) in fresh_stores().await {
        invited(&store, "dave@example.com").await;
        let first = claim(&store, t0()).await;
        let retry_at = t0() + Duration::seconds(30);
        assert!(
            store
                .mark_message_failed(
                    first.id,
                    first.claimed_until.unwrap(),
                    "SMTP down",
                    retry_at,
                    false
                )
                .await
                .unwrap()
        );
        assert!(
            store
                .claim_due_messages(t0(), t0() + Duration::seconds(60), 10, &[])
                .await
                .unwrap()
                .is_empty(),
            "{label}: not due before the retry time"
        );
        let second = claim(&store, retry_at).await;
        assert!(
            store
                .mark_message_failed(
                    second.id,
                    second.claimed_until.unwrap(),
                    "SMTP down",
                    retry_at,
                    true
                )
                .await
                .unwrap()
        );
        let failed = store.message(second.id).await.unwrap().unwrap();
        assert_eq!(
            (failed.status.as_str(), failed.attempts),
            ("failed", 2),
            "{label}"
        );
        assert!(failed.claimed_until.is_none(), "{label}");

        invited(&store, "erin@example.com").await;
        let void = claim(&store, retry_at).await;
        assert!(
            store
                .cancel_message(
                    void.id,
                    void.claimed_until.unwrap(),
                    "the employee is disabled"
                )
                .await
                .unwrap()
        );
        let cancelled = store.message(void.id).await.unwrap().unwrap();
        assert_eq!(cancelled.status, "cancelled", "{label}");
        assert_eq!(
            cancelled.last_error.as_deref(),
            Some("the employee is disabled"),
            "{label}"
        );
    }
}
