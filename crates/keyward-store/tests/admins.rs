//! Console admins in the store, on SQLite and PostgreSQL: unique e-mails, enrollment links used
//! once, ceremonies taken once, sessions, and disabling.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use chrono::{Duration, Utc};
use common::stores;
use keyward_model::{Admin, AdminCredential, Email, NewAuditRecord};
use keyward_store::{Error, NewAdminSession, NewEnrollment, StoredCeremony, StoredCredential};
use uuid::Uuid;

fn audit(action: &str) -> NewAuditRecord {
    NewAuditRecord {
        actor: "test".into(),
        action: action.into(),
        subject: "admin:test".into(),
        detail: serde_json::json!({}),
        at: Utc::now(),
    }
}

fn admin(email: &str) -> Admin {
    Admin {
        id: Uuid::now_v7(),
        email: Email::parse(email).unwrap(),
        name: "Ada".into(),
        created_at: Utc::now(),
        disabled_at: None,
    }
}

fn link(hash: &str) -> NewEnrollment<'_> {
    NewEnrollment {
        token_hash: hash,
        created_at: Utc::now(),
        expires_at: Utc::now() + Duration::hours(1),
    }
}

#[tokio::test]
async fn admins_links_ceremonies_and_sessions_keep_their_rules() {
    for (label, store, _db) in stores().await {
        let ada = store
            .create_admin(
                &admin("ada@corp.example"),
                &link("h1"),
                &audit("admin.created"),
            )
            .await
            .unwrap();
        let again = store
            .create_admin(
                &admin("ADA@corp.example"),
                &link("h2"),
                &audit("admin.created"),
            )
            .await;
        assert!(
            matches!(again, Err(Error::Conflict { .. })),
            "{label}: {again:?}"
        );
        assert!(
            store.admin_enrollment("h2").await.unwrap().is_none(),
            "{label}: half a write"
        );

        // A ceremony is taken once.
        let ceremony = Uuid::new_v4();
        let state = StoredCeremony {
            admin_id: ada.id,
            state: "{\"challenge\":1}".into(),
            expires_at: Utc::now() + Duration::minutes(5),
        };
        store
            .save_ceremony(ceremony, "registration", &state)
            .await
            .unwrap();
        assert!(
            store
                .take_ceremony(ceremony, "sign_in", Utc::now())
                .await
                .unwrap()
                .is_none()
        );
        let taken = store
            .take_ceremony(ceremony, "registration", Utc::now())
            .await
            .unwrap();
        assert_eq!(taken.unwrap().state, state.state, "{label}");
        assert!(
            store
                .take_ceremony(ceremony, "registration", Utc::now())
                .await
                .unwrap()
                .is_none()
        );
        // An expired one is gone.
        let old = Uuid::new_v4();
        store
            .save_ceremony(
                old,
                "sign_in",
                &StoredCeremony {
                    expires_at: Utc::now() - Duration::seconds(1),
                    ..state.clone()
                },
            )
            .await
            .unwrap();
        assert!(
            store
                .take_ceremony(old, "sign_in", Utc::now())
                .await
                .unwrap()
                .is_none()
        );

        // A credential registered through a link uses it; the link does not register twice.
        let credential = |id: &str| StoredCredential {
            credential: AdminCredential {
                credential_id: id.into(),
                admin_id: ada.id,
                label: "key".into(),
                created_at: Utc::now(),
                last_used_at: None,
            },
            passkey: "{}".into(),
        };
        store
            .add_admin_credential(
                &credential("c1"),
                Some("h1"),
                &audit("admin.credential_registered"),
            )
            .await
            .unwrap();
        assert!(
            store
                .admin_enrollment("h1")
                .await
                .unwrap()
                .unwrap()
                .used_at
                .is_some()
        );
        let twice = store
            .add_admin_credential(
                &credential("c2"),
                Some("h1"),
                &audit("admin.credential_registered"),
            )
            .await;
        assert!(
            matches!(twice, Err(Error::Conflict { .. })),
            "{label}: {twice:?}"
        );
        assert_eq!(
            store.admin_credentials(ada.id).await.unwrap().len(),
            1,
            "{label}"
        );
        store
            .record_credential_use("c1", "{\"n\":2}", Utc::now())
            .await
            .unwrap();
        let stored = &store.admin_credentials(ada.id).await.unwrap()[0];
        assert_eq!(stored.passkey, "{\"n\":2}");
        assert!(stored.credential.last_used_at.is_some());

        // Sessions: read, touched, ended; disabling the admin ends every one.
        let now = Utc::now();
        for hash in ["s1", "s2"] {
            store
                .create_admin_session(
                    &NewAdminSession {
                        id_hash: hash,
                        admin_id: ada.id,
                        csrf_token: "csrf",
                        created_at: now,
                        expires_at: now + Duration::hours(12),
                    },
                    &audit("admin.signed_in"),
                )
                .await
                .unwrap();
        }
        let session = store.admin_session("s1").await.unwrap().unwrap();
        assert_eq!(
            (session.admin.id, session.csrf_token.as_str()),
            (ada.id, "csrf")
        );
        store
            .touch_admin_session("s1", now + Duration::minutes(5))
            .await
            .unwrap();
        assert!(
            store
                .admin_session("s1")
                .await
                .unwrap()
                .unwrap()
                .last_seen_at
                > now
        );
        store
            .end_admin_session("s1", Some(&audit("admin.signed_out")))
            .await
            .unwrap();
        assert!(store.admin_session("s1").await.unwrap().is_none());
        store
            .add_admin_enrollment(ada.id, &link("h3"), &audit("admin.link_issued"))
            .await
            .unwrap();
        let disabled = store
            .disable_admin(&ada.email, Utc::now(), &audit("admin.disabled"))
            .await
            .unwrap();
        assert!(!disabled.is_active());
        assert!(
            store.admin_session("s2").await.unwrap().is_none(),
            "{label}"
        );
        assert!(
            store
                .admin_enrollment("h3")
                .await
                .unwrap()
                .unwrap()
                .used_at
                .is_some()
        );
        let listed = store.list_admins().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].disabled_at.is_some(), "{label}");
    }
}
