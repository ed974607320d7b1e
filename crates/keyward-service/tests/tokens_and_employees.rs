//! Service operations on every storage backend.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use keyward_service::{Actor, Error, Keyward, Settings};
use keyward_test_support::TestDb;

async fn open_all() -> Vec<(TestDb, Keyward)> {
    let mut out = Vec::new();
    for db in TestDb::all().await {
        let settings = Settings {
            database_url: db.url.clone(),
            ..Settings::default()
        };
        let keyward = Keyward::open(&settings).await.expect("open");
        out.push((db, keyward));
    }
    out
}

#[tokio::test]
async fn a_token_verifies_until_revoked_and_nothing_else_verifies() {
    for (db, keyward) in open_all().await {
        let tokens = keyward.tokens();
        let (token, secret) = tokens.create("admin", &Actor::Cli).await.unwrap();
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
            assert!(
                matches!(tokens.verify(bad).await, Err(Error::Unauthorized)),
                "{}: {bad:?}",
                db.label
            );
        }
        let err = tokens.create("admin", &Actor::Cli).await.unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{}: {err}", db.label);
        let err = tokens.create("bad name!", &Actor::Cli).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{}: {err}", db.label);

        tokens.revoke("admin", &Actor::Cli).await.unwrap();
        assert!(
            matches!(
                tokens.verify(secret.expose()).await,
                Err(Error::Unauthorized)
            ),
            "{}",
            db.label
        );
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
