//! Service operations on every storage backend.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use keyward_model::{Scope, Scopes, TokenName};
use keyward_service::{
    Actor, Clock, Credential, Error, Keyward, ManualClock, OpenMode, Settings, require_scope,
};
use keyward_test_support::TestDb;

async fn open_all() -> Vec<(TestDb, Keyward)> {
    let mut out = Vec::new();
    for db in TestDb::all().await {
        let settings = Settings {
            database_url: db.url.clone(),
            ..Settings::default()
        };
        let keyward = Keyward::open_with(&settings, OpenMode::CreateIfEmpty)
            .await
            .expect("open");
        out.push((db, keyward));
    }
    out
}

#[tokio::test]
async fn a_token_verifies_until_revoked_and_nothing_else_verifies() {
    for (db, keyward) in open_all().await {
        let tokens = keyward.tokens();
        let (token, secret) = tokens
            .create("admin", &Scopes::admin(), None, &Actor::Cli)
            .await
            .unwrap();
        assert!(secret.expose().starts_with("kw_"), "{}", db.label);
        assert_eq!(
            tokens.verify(secret.expose()).await.unwrap().id,
            token.id,
            "{}",
            db.label
        );
        assert!(
            tokens.list().await.unwrap()[0].last_used_at.is_some(),
            "{}",
            db.label
        );

        let mut wrong = secret.expose().to_owned();
        let last = wrong.pop().unwrap();
        wrong.push(if last == 'A' { 'B' } else { 'A' });
        for bad in [
            wrong.as_str(),
            "",
            "Bearer x",
            "kw_",
            &secret.expose()[..20],
        ] {
            let err = tokens.verify(bad).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Unauthorized {
                        credential: Credential::AdminToken
                    }
                ),
                "{}: {bad:?}",
                db.label
            );
            // It names the credential, never the value presented.
            if !bad.is_empty() {
                assert!(!err.to_string().contains(bad), "{}: {err}", db.label);
            }
        }
        let err = tokens
            .create("admin", &Scopes::admin(), None, &Actor::Cli)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{}: {err}", db.label);
        let err = tokens
            .create("bad name!", &Scopes::admin(), None, &Actor::Cli)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{}: {err}", db.label);

        tokens.revoke("admin", &Actor::Cli).await.unwrap();
        assert!(
            matches!(
                tokens.verify(secret.expose()).await,
                Err(Error::Unauthorized {
                    credential: Credential::AdminToken
                })
            ),
            "{}",
            db.label
        );
    }
}

#[tokio::test]
async fn a_token_has_only_its_scopes_and_stops_at_its_expiry() {
    for db in TestDb::all().await {
        let settings = Settings {
            database_url: db.url.clone(),
            ..Settings::default()
        };
        let clock = ManualClock::starting_at(Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap());
        let keyward = Keyward::open_with(&settings, OpenMode::CreateIfEmpty)
            .await
            .unwrap()
            .with_clock(Arc::new(clock.clone()));
        let tokens = keyward.tokens();
        let label = db.label;

        let scopes = Scopes::parse_list("keys,read").unwrap();
        let expires = tokens.parse_expiry("30d").unwrap();
        assert_eq!(
            expires,
            Some(Utc.with_ymd_and_hms(2027, 1, 1, 12, 0, 0).unwrap()),
            "{label}"
        );
        let (token, secret) = tokens
            .create("helpdesk", &scopes, expires, &Actor::Cli)
            .await
            .unwrap();
        assert_eq!(token.scopes, scopes, "{label}");
        let verified = tokens.verify(secret.expose()).await.unwrap();
        assert_eq!(verified.expires_at, expires, "{label}");
        require_scope(&verified, Scope::Keys).unwrap();
        require_scope(&verified, Scope::Read).unwrap();
        let err = require_scope(&verified, Scope::Workstations).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InsufficientScope {
                    needed: Scope::Workstations,
                    ..
                }
            ),
            "{label}: {err}"
        );
        assert_eq!(err.code().as_str(), "insufficient_scope");
        assert!(err.to_string().contains("`workstations`"), "{err}");
        assert!(!err.to_string().contains(secret.expose()), "{err}");

        // Still valid one second before the expiry, refused from the expiry on, and the
        // refusal names the expiry, never the secret.
        clock.advance(Duration::days(30) - Duration::seconds(1));
        tokens.verify(secret.expose()).await.unwrap();
        clock.advance(Duration::seconds(1));
        let err = tokens.verify(secret.expose()).await.unwrap_err();
        assert!(matches!(err, Error::TokenExpired { .. }), "{label}: {err}");
        assert_eq!(err.code().as_str(), "token_expired");
        assert!(err.to_string().contains("2027-01-01T12:00:00"), "{err}");
        assert!(!err.to_string().contains(secret.expose()), "{err}");
        // A wrong secret for an expired token is still only unauthorized.
        let mut wrong = secret.expose().to_owned();
        let last = wrong.pop().unwrap();
        wrong.push(if last == 'A' { 'B' } else { 'A' });
        assert!(matches!(
            tokens.verify(&wrong).await,
            Err(Error::Unauthorized {
                credential: Credential::AdminToken
            })
        ));
        // Listing shows it expired.
        let listed = tokens.list().await.unwrap();
        assert!(listed[0].is_expired(clock.now()), "{label}");

        // An expiry in the past is refused and nothing is stored.
        let past = Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let err = tokens
            .create("late", &Scopes::admin(), past, &Actor::Cli)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{label}: {err}");
        assert!(
            tokens
                .list()
                .await
                .unwrap()
                .iter()
                .all(|t| t.name != TokenName::parse("late").unwrap()),
            "{label}"
        );
        assert!(tokens.parse_expiry("yesterday").is_err());
    }
}

#[tokio::test]
async fn manual_employees_are_found_by_id_or_email() {
    for (db, keyward) in open_all().await {
        let employees = keyward.employees();
        let ada = employees
            .create(" Ada@Example.com", "Ada Lovelace", &Actor::Cli)
            .await
            .unwrap();
        assert_eq!(
            employees.find(&ada.id.to_string()).await.unwrap(),
            ada,
            "{}",
            db.label
        );
        assert_eq!(
            employees.find("ADA@example.com").await.unwrap(),
            ada,
            "{}",
            db.label
        );
        assert!(matches!(
            employees.find("nobody@example.com").await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            employees.find("neither").await,
            Err(Error::InvalidInput(_))
        ));
        for (email, name) in [("not-an-email", "X"), ("x@example.com", "  ")] {
            let err = employees
                .create(email, name, &Actor::Cli)
                .await
                .unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{}: {err}", db.label);
        }
        assert!(employees.accounts(ada.id).await.unwrap().is_empty());
        let page = employees.list(None, Some(1)).await.unwrap();
        assert_eq!(page.items, vec![ada], "{}", db.label);
        assert!(page.next_cursor.is_none());
        assert!(matches!(
            employees.list(None, Some(0)).await,
            Err(Error::InvalidInput(_))
        ));
    }
}
