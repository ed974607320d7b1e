//! The store test suite: every case runs on SQLite in memory, an SQLite file and PostgreSQL.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use chrono::{TimeZone, Utc};
use keyward_model::{
    ApiTokenId, Cursor, DirectoryAccount, DirectoryName, DisplayName, Email, EmployeeOrigin,
    EmployeeStatus, NewAuditRecord, NewEmployee, PageRequest, Scopes, TokenName,
};
use keyward_store::{Error, NewApiToken, NewWorkstation, Store};
use keyward_test_support::TestDb;

async fn fresh_stores() -> Vec<(&'static str, Store, TestDb)> {
    let mut out = Vec::new();
    for db in TestDb::all().await {
        let store = Store::connect(&db.url).await.expect("connect");
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.label));
        out.push((db.label, store, db));
    }
    out
}

fn audit(action: &str) -> NewAuditRecord {
    NewAuditRecord {
        actor: "test".into(),
        action: action.into(),
        subject: "test".into(),
        detail: serde_json::json!({}),
        at: Utc::now(),
    }
}

fn new_employee(email: &str, name: &str) -> NewEmployee {
    NewEmployee {
        email: Email::parse(email).unwrap(),
        display_name: DisplayName::parse(name).unwrap(),
    }
}

const MIGRATIONS: [&str; 14] = [
    "m20261125_000001_initial",
    "m20261125_000002_keys",
    "m20261125_000003_sync",
    "m20261125_000004_outbox",
    "m20261125_000005_passwords",
    "m20261125_000006_invitation_links",
    "m20261202_000007_key_proofs",
    "m20261202_000008_release_key_holders",
    "m20261202_000009_token_scopes",
    "m20261202_000010_workstation_source",
    "m20261203_000011_admins",
    "m20261203_000012_server_instances",
    "m20261204_000013_rotation_controller",
    "m20261207_000014_last_commit",
];

/// The SHA-256 hex a legacy workstation row is given in the migration test.
const LEGACY_WS_HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn migrations_apply_one_at_a_time_and_keep_earlier_data() {
    for db in TestDb::all().await {
        let store = Store::connect(&db.url).await.unwrap();
        let (applied, pending) = store.migration_status().await.unwrap();
        assert!(applied.is_empty(), "{}", db.label);
        assert_eq!(pending, MIGRATIONS, "{}", db.label);

        assert_eq!(
            store.migrate_one_step().await.unwrap().as_deref(),
            Some(MIGRATIONS[0])
        );
        // Data written under the first schema must survive every later migration.
        let ada = store
            .create_employee(
                &new_employee("ada@example.com", "Ada"),
                Utc::now(),
                &audit("employee.created"),
            )
            .await
            .unwrap();
        for name in &MIGRATIONS[1..] {
            if *name == "m20261125_000006_invitation_links" && db.label != "sqlite-memory" {
                // A link stored the way migration 4 stored it (one hash on the invitation row)
                // must keep working. Raw SQL, because today's store no longer writes that
                // column; the employee's id and times are reused so the SQL is the same on
                // both backends. An in-memory database cannot be reached from a second
                // connection, so that case is left out.
                keyward_test_support::execute_sql(
                    &db.url,
                    "INSERT INTO invitations (id, employee_id, token_hash, status, expires_at, \
                     created_at) SELECT id, id, 'legacy-link-hash', 'pending', created_at, \
                     created_at FROM employees",
                )
                .await;
            }
            if *name == "m20261202_000008_release_key_holders" && db.label != "sqlite-memory" {
                // A holder recorded before holders were part of the key's state.
                keyward_test_support::execute_sql(
                    &db.url,
                    "INSERT INTO keys (serial, status, linked_workstation, wipe_pending, \
                     version, created_at, updated_at) SELECT 'OLD-1', 'ready', 'ws-old', \
                     false, 1, created_at, created_at FROM employees",
                )
                .await;
            }
            if *name == "m20261202_000009_token_scopes" && db.label != "sqlite-memory" {
                // A token made before scopes existed must keep working with every right: the
                // migration gives it `admin` and no expiry. The employee's id and time are
                // reused so the SQL is the same on both backends.
                keyward_test_support::execute_sql(
                    &db.url,
                    "INSERT INTO api_tokens (id, name, secret_hash, created_at) \
                     SELECT id, 'legacy-token', 'legacy-token-hash', created_at FROM employees",
                )
                .await;
            }
            if *name == "m20261202_000010_workstation_source" && db.label != "sqlite-memory" {
                keyward_test_support::execute_sql(
                    &db.url,
                    &format!(
                        "INSERT INTO workstations (id, name, status, credential_hash, \
                         created_at) SELECT id, 'WS-legacy', 'approved', '{LEGACY_WS_HASH}', \
                         created_at FROM employees"
                    ),
                )
                .await;
            }
            if *name == "m20261204_000013_rotation_controller" && db.label != "sqlite-memory" {
                // A rotation in flight from before controllers were pinned: it reads as one
                // that has not reached a controller yet.
                keyward_test_support::execute_sql(
                    &db.url,
                    "INSERT INTO account_passwords (directory, object_guid, version, state, \
                     pending_version, sealed_pending, method, reason, requested_by, \
                     requested_at, attempts, row_version) SELECT 'corp1', id, 0, \
                     'awaiting_directory', 1, 'sealed', 'reset', 'max_age', 'cli', created_at, \
                     2, 1 FROM employees",
                )
                .await;
            }
            assert_eq!(
                store.migrate_one_step().await.unwrap().as_deref(),
                Some(*name),
                "{}",
                db.label
            );
        }
        if db.label != "sqlite-memory" {
            let old = store
                .key(&keyward_keys::KeySerial::parse("OLD-1").unwrap())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                old.linked_workstation, None,
                "{}: the holder stays",
                db.label
            );
            let legacy = store
                .invitation_by_token_hash("legacy-link-hash")
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{}: the stored link was not carried over", db.label));
            assert_eq!(legacy.id, ada.id.as_uuid(), "{}", db.label);

            let token = store
                .api_token_for_verification(ApiTokenId::from_uuid(ada.id.as_uuid()))
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{}: the legacy token is gone", db.label));
            assert_eq!(token.secret_hash, "legacy-token-hash", "{}", db.label);
            assert_eq!(token.token.name.as_str(), "legacy-token", "{}", db.label);
            assert_eq!(token.token.scopes, Scopes::admin(), "{}", db.label);
            assert_eq!(token.token.expires_at, None, "{}", db.label);

            let ws = store
                .workstation(ada.id.as_uuid())
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{}: the legacy workstation is gone", db.label));
            assert_eq!(ws.source_address, None, "{}", db.label);
            assert_eq!(ws.credential_fingerprint, "01234567", "{}", db.label);

            let in_flight = store
                .account_password("corp1", ada.id.as_uuid())
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{}: the rotation in flight is gone", db.label));
            assert_eq!(
                in_flight.state.last_commit, None,
                "{}: a row from before migration 14 has no last commit to check against",
                db.label
            );
            let pending = in_flight.state.pending.unwrap();
            assert_eq!(
                (
                    pending.version,
                    pending.controller,
                    in_flight.state.attempts
                ),
                (1, None, 2),
                "{}",
                db.label
            );
        }
        assert_eq!(
            store.migrate_one_step().await.unwrap(),
            None,
            "{}",
            db.label
        );
        assert_eq!(
            store.employee(ada.id).await.unwrap().unwrap(),
            ada,
            "{}",
            db.label
        );

        store
            .migrate()
            .await
            .expect("migrate on a current schema is a no-op");
        let (applied, pending) = store.migration_status().await.unwrap();
        assert_eq!(applied, MIGRATIONS, "{}", db.label);
        assert!(pending.is_empty(), "{}", db.label);
        store.ping().await.unwrap();
    }
}

#[tokio::test]
async fn the_schema_status_is_read_without_changing_anything() {
    use keyward_store::SchemaState;
    for db in TestDb::all().await {
        let store = Store::connect(&db.url).await.unwrap();
        let empty = store.schema_status().await.unwrap();
        assert_eq!(empty.state(), SchemaState::Empty, "{}", db.label);
        assert_eq!(empty.pending, MIGRATIONS, "{}", db.label);
        // Reading it twice still finds no table: it created none, not even the migrations table.
        assert!(
            !store.schema_status().await.unwrap().has_tables,
            "{}",
            db.label
        );

        store.migrate_one_step().await.unwrap();
        let behind = store.schema_status().await.unwrap();
        assert_eq!(behind.state(), SchemaState::Behind, "{}", db.label);
        assert_eq!(behind.applied, MIGRATIONS[..1], "{}", db.label);
        assert_eq!(behind.pending, MIGRATIONS[1..], "{}", db.label);
        assert_eq!(
            store.schema_status().await.unwrap(),
            behind,
            "{}: reading the status changed it",
            db.label
        );

        store.migrate().await.unwrap();
        let current = store.schema_status().await.unwrap();
        assert_eq!(current.state(), SchemaState::Current, "{}", db.label);
        assert_eq!(current.applied, MIGRATIONS, "{}", db.label);
        assert!(current.unknown.is_empty(), "{}", db.label);

        if db.label == "sqlite-memory" {
            // A second connection cannot reach an in-memory database.
            continue;
        }
        keyward_test_support::execute_sql(
            &db.url,
            "INSERT INTO seaql_migrations (version, applied_at) \
             VALUES ('m20991231_000099_from_the_future', 0)",
        )
        .await;
        let ahead = store.schema_status().await.unwrap();
        assert_eq!(ahead.state(), SchemaState::Ahead, "{}", db.label);
        assert_eq!(
            ahead.unknown,
            ["m20991231_000099_from_the_future"],
            "{}",
            db.label
        );
        assert_eq!(ahead.applied, MIGRATIONS, "{}", db.label);
        let err = store.migrate().await.unwrap_err();
        assert!(
            matches!(&err, Error::Schema { detail } if detail.contains("newer keyward")),
            "{}: {err}",
            db.label
        );
        assert_eq!(store.schema_status().await.unwrap(), ahead, "{}", db.label);
    }
}

#[tokio::test]
async fn employees_are_created_found_and_unique_by_email() {
    for (label, store, _db) in fresh_stores().await {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap();
        let ada = store
            .create_employee(
                &new_employee("Ada@Example.com", "Ada Lovelace"),
                now,
                &audit("employee.created"),
            )
            .await
            .unwrap();
        assert_eq!(
            ada.email.as_ref().unwrap().as_str(),
            "ada@example.com",
            "{label}"
        );
        assert_eq!(ada.status, EmployeeStatus::Active);
        assert_eq!(ada.origin, EmployeeOrigin::Manual);
        assert_eq!(
            ada.created_at, now,
            "{label}: timestamps survive the round trip"
        );
        assert_eq!(
            store.employee(ada.id).await.unwrap().unwrap(),
            ada,
            "{label}"
        );
        let by_mail = store
            .employee_by_email(&Email::parse(" ADA@example.COM ").unwrap())
            .await
            .unwrap();
        assert_eq!(by_mail.unwrap().id, ada.id, "{label}");

        let audit_before = store.list_audit(None, 0, 100).await.unwrap().len();
        let dup = store
            .create_employee(
                &new_employee("ada@EXAMPLE.com", "Other"),
                now,
                &audit("employee.created"),
            )
            .await
            .unwrap_err();
        assert!(matches!(dup, Error::Conflict { .. }), "{label}: {dup}");
        assert!(
            dup.to_string().contains("ada@example.com"),
            "{label}: {dup}"
        );
        let audit_after = store.list_audit(None, 0, 100).await.unwrap().len();
        assert_eq!(
            audit_before, audit_after,
            "{label}: a failed write leaves no audit record"
        );

        let unknown = keyward_model::EmployeeId::new_v7();
        assert!(store.employee(unknown).await.unwrap().is_none(), "{label}");
    }
}

#[tokio::test]
async fn employee_pages_cover_everyone_once_in_order() {
    for (label, store, _db) in fresh_stores().await {
        let now = Utc::now();
        let mut created = Vec::new();
        for i in 0..25 {
            let e = store
                .create_employee(
                    &new_employee(&format!("p{i}@example.com"), &format!("Person {i}")),
                    now,
                    &audit("employee.created"),
                )
                .await
                .unwrap();
            created.push(e.id);
        }
        let mut seen = Vec::new();
        let mut request = PageRequest::new(None, Some(10)).unwrap();
        let mut pages = 0;
        loop {
            let page = store.list_employees(&request).await.unwrap();
            pages += 1;
            seen.extend(page.items.iter().map(|e| e.id));
            match page.next_cursor {
                Some(c) => request = PageRequest::new(Some(c), Some(10)).unwrap(),
                None => break,
            }
        }
        assert_eq!(pages, 3, "{label}");
        assert_eq!(
            seen, created,
            "{label}: every employee once, in creation order"
        );

        let bad = PageRequest::new(Some(keyward_model::Cursor::new("garbage")), None).unwrap();
        let err = store.list_employees(&bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidCursor { .. }), "{label}: {err}");
    }
}

#[tokio::test]
async fn directory_accounts_are_keyed_by_directory_and_guid() {
    for (label, store, _db) in fresh_stores().await {
        let owner = store
            .create_employee(
                &new_employee("bob@example.com", "Bob"),
                Utc::now(),
                &audit("employee.created"),
            )
            .await
            .unwrap();
        let guid = uuid::Uuid::new_v4();
        let mut account = DirectoryAccount {
            directory: DirectoryName::parse("corp1").unwrap(),
            object_guid: guid,
            employee_id: owner.id,
            dn: "CN=Bob,OU=LabUsers,DC=corp1,DC=test".into(),
            sam_account_name: Some("bob".into()),
            user_principal_name: Some("bob@corp1.test".into()),
            mail: Some(Email::parse("bob@example.com").unwrap()),
            display_name: Some("Bob".into()),
            enabled: true,
            in_rotation_group: false,
            usn_changed: 4711,
            last_seen_at: Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap(),
            missing_since: None,
        };
        store.upsert_account(&account).await.unwrap();
        account.dn = "CN=Robert,OU=LabUsers,DC=corp1,DC=test".into();
        account.enabled = false;
        account.usn_changed = 4800;
        store.upsert_account(&account).await.unwrap();
        let mut same_guid_other_directory = account.clone();
        same_guid_other_directory.directory = DirectoryName::parse("corp2").unwrap();
        store
            .upsert_account(&same_guid_other_directory)
            .await
            .unwrap();

        let accounts = store.accounts_of(owner.id).await.unwrap();
        assert_eq!(
            accounts,
            vec![account, same_guid_other_directory],
            "{label}"
        );
    }
}

#[tokio::test]
async fn api_tokens_create_verify_touch_revoke() {
    for (label, store, _db) in fresh_stores().await {
        let name = TokenName::parse("ci-pipeline").unwrap();
        let id = ApiTokenId::new_v7();
        let now = Utc::now();
        let scopes = Scopes::parse_list("workstations,read").unwrap();
        let expires = Utc.with_ymd_and_hms(2027, 1, 31, 0, 0, 0).unwrap();
        let token = store
            .create_api_token(
                &NewApiToken {
                    id,
                    name: &name,
                    secret_hash: "hash-1",
                    scopes: &scopes,
                    expires_at: Some(expires),
                    created_at: now,
                },
                &audit("token.created"),
            )
            .await
            .unwrap();
        assert_eq!(token.name, name);
        let again = store
            .create_api_token(
                &NewApiToken {
                    id: ApiTokenId::new_v7(),
                    name: &name,
                    secret_hash: "hash-2",
                    scopes: &Scopes::admin(),
                    expires_at: None,
                    created_at: now,
                },
                &audit("token.created"),
            )
            .await
            .unwrap_err();
        assert!(matches!(again, Error::Conflict { .. }), "{label}: {again}");

        let stored = store.api_token_for_verification(id).await.unwrap().unwrap();
        assert_eq!(stored.secret_hash, "hash-1", "{label}");
        assert_eq!(stored.token.scopes, scopes, "{label}");
        assert_eq!(stored.token.expires_at, Some(expires), "{label}");
        let listed = store.list_api_tokens().await.unwrap();
        assert_eq!(listed[0].scopes.to_string(), "read,workstations", "{label}");
        assert_eq!(listed[0].expires_at, Some(expires), "{label}");
        assert!(stored.token.last_used_at.is_none());
        store.touch_api_token(id, now).await.unwrap();
        let stored = store.api_token_for_verification(id).await.unwrap().unwrap();
        assert!(stored.token.last_used_at.is_some(), "{label}");

        let revoked = store
            .revoke_api_token(&name, now, &audit("token.revoked"))
            .await
            .unwrap();
        assert!(revoked.revoked_at.is_some(), "{label}");
        let twice = store
            .revoke_api_token(&name, Utc::now(), &audit("token.revoked"))
            .await
            .unwrap();
        assert_eq!(
            twice.revoked_at, revoked.revoked_at,
            "{label}: revoking again changes nothing"
        );
        let missing = TokenName::parse("nope").unwrap();
        let err = store
            .revoke_api_token(&missing, now, &audit("token.revoked"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{label}: {err}");

        assert_eq!(store.list_api_tokens().await.unwrap().len(), 1, "{label}");
        let actions: Vec<_> = store
            .list_audit(None, 0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.record.action)
            .collect();
        assert_eq!(
            actions,
            ["token.created", "token.revoked"],
            "{label}: one record per change"
        );
    }
}

#[tokio::test]
async fn workstations_keep_their_source_and_fingerprint_and_page_in_registration_order() {
    for (label, store, _db) in fresh_stores().await {
        let mut ids = Vec::new();
        for n in 0..5u8 {
            let id = uuid::Uuid::now_v7();
            let hash = format!("{n:02x}{}", "ab".repeat(31));
            let address = format!("192.0.2.{n}");
            let ws = store
                .create_workstation(
                    &NewWorkstation {
                        id,
                        name: "WS-042",
                        credential_hash: &hash,
                        source_address: (n != 4).then_some(address.as_str()),
                        created_at: Utc::now(),
                    },
                    &audit("workstation.registered"),
                )
                .await
                .unwrap();
            assert_eq!(
                ws.credential_fingerprint,
                format!("{n:02x}ababab"),
                "{label}"
            );
            assert_eq!(ws.source_address.is_some(), n != 4, "{label}");
            ids.push(id);
        }
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .list_workstations(&PageRequest::new(after.clone(), Some(2)).unwrap())
                .await
                .unwrap();
            assert!(page.items.len() <= 2, "{label}");
            seen.extend(page.items.iter().map(|w| w.id));
            match page.next_cursor {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, ids, "{label}: every workstation once, in order");
        let first = store
            .list_workstations(&PageRequest::first())
            .await
            .unwrap();
        assert_eq!(first.items[1].source_address.as_deref(), Some("192.0.2.1"));
        assert!(first.next_cursor.is_none(), "{label}");
        let err = store
            .list_workstations(&PageRequest::new(Some(Cursor::new("not-a-uuid")), None).unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidCursor { .. }), "{label}: {err}");
    }
}

#[tokio::test]
async fn settings_keep_the_first_value() {
    for (label, store, _db) in fresh_stores().await {
        assert!(
            store.setting("kek.check").await.unwrap().is_none(),
            "{label}"
        );
        assert_eq!(
            store
                .setting_insert_if_absent("kek.check", "one")
                .await
                .unwrap(),
            "one"
        );
        assert_eq!(
            store
                .setting_insert_if_absent("kek.check", "two")
                .await
                .unwrap(),
            "one",
            "{label}"
        );
    }
}

#[tokio::test]
async fn audit_records_are_listed_in_order_and_by_subject() {
    for (label, store, _db) in fresh_stores().await {
        for (i, subject) in ["a", "b", "a"].iter().enumerate() {
            let mut r = audit(&format!("x.{i}"));
            r.subject = (*subject).into();
            r.detail = serde_json::json!({ "n": i });
            store.append_audit(&r).await.unwrap();
        }
        let all = store.list_audit(None, 0, 10).await.unwrap();
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "{label}");
        let only_a = store.list_audit(Some("a"), 0, 10).await.unwrap();
        assert_eq!(only_a.len(), 2, "{label}");
        assert_eq!(
            only_a[1].record.detail,
            serde_json::json!({ "n": 2 }),
            "{label}"
        );
        let after_first = store.list_audit(None, all[0].seq, 10).await.unwrap();
        assert_eq!(after_first.len(), 2, "{label}");
    }
}
