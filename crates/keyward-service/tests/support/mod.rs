//! What the service's rotation tests share: a Keyward with a key-encryption key on SQLite (a
//! file) and, when configured, PostgreSQL, and the steps that bring a key to Active.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use chrono::Utc;
use keyward_directory::DirectoryConfig;
use keyward_keys::KeyStatus;
use keyward_model::{DirectoryAccount, DirectoryName};
use keyward_service::{Actor, Keyward, ManualClock, OpenMode, SecretString, Settings, Workstation};
use keyward_store::Store;
use keyward_test_support::TestDb;
use uuid::Uuid;

pub struct Setup {
    pub _db: TestDb,
    pub dir: tempfile::TempDir,
    pub k: Keyward,
    pub clock: ManualClock,
    pub store: Store,
}

pub async fn setups() -> Vec<Setup> {
    let mut dbs = vec![TestDb::sqlite_file()];
    if let Some(pg) = TestDb::postgres().await {
        dbs.push(pg);
    }
    let mut out = Vec::new();
    for db in dbs {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("kek");
        keyward_service::write_new_key_file(&key_file).unwrap();
        let mut directory =
            DirectoryConfig::new("corp1", vec!["ldaps://127.0.0.1:1".into()], "CN=svc");
        let bind_password = dir.path().join("bind-password");
        std::fs::write(&bind_password, "unused\n").unwrap();
        directory.bind_password_file = Some(bind_password);
        directory.connect_timeout_secs = 1;
        let mut settings = Settings {
            database_url: db.url.clone(),
            directories: vec![directory],
            ..Settings::default()
        };
        settings.secrets.key_file = Some(key_file);
        settings.passwords.max_attempts = 2;
        settings.passwords.retry_base_secs = 1;
        let clock = ManualClock::starting_at(Utc::now());
        let k = Keyward::open_with(&settings, OpenMode::CreateIfEmpty)
            .await
            .unwrap()
            .with_clock(Arc::new(clock.clone()));
        let store = Store::connect(&db.url).await.unwrap();
        out.push(Setup {
            _db: db,
            dir,
            k,
            clock,
            store,
        });
    }
    out
}

/// An employee with one corp1 account; returns the account's objectGUID.
pub async fn employee_with_account(s: &Setup, email: &str, sam: &str, rotation: bool) -> Uuid {
    let employee =
        s.k.employees()
            .create(email, &format!("{sam} Tester"), &Actor::Cli)
            .await
            .unwrap();
    let guid = Uuid::new_v4();
    s.store
        .upsert_account(&account(employee.id, guid, sam, rotation))
        .await
        .unwrap();
    guid
}

pub fn account(
    employee_id: keyward_model::EmployeeId,
    guid: Uuid,
    sam: &str,
    rotation: bool,
) -> DirectoryAccount {
    DirectoryAccount {
        directory: DirectoryName::parse("corp1").unwrap(),
        object_guid: guid,
        employee_id,
        dn: format!("CN={sam},DC=corp1,DC=test"),
        sam_account_name: Some(sam.into()),
        user_principal_name: Some(format!("{sam}@corp1.test")),
        mail: None,
        display_name: Some(format!("{sam} Tester")),
        enabled: true,
        in_rotation_group: rotation,
        usn_changed: 1,
        last_seen_at: Utc::now(),
        missing_since: None,
    }
}

/// An approved workstation and its credential.
pub async fn approved(s: &Setup, name: &str) -> (Workstation, SecretString) {
    let (ws, credential) = s.k.agent().register(name).await.unwrap();
    let ws =
        s.k.agent()
            .approve(&ws.id.to_string(), &Actor::Cli)
            .await
            .unwrap();
    (ws, credential)
}

/// Imports, assigns and activates `serial` for `email` through `ws`; returns the key proof.
pub async fn active_key(s: &Setup, ws: &Workstation, serial: &str, email: &str) -> SecretString {
    s.k.keys()
        .import(&[serial.into()], &Actor::Cli)
        .await
        .unwrap();
    let code = s.k.keys().assign(serial, email, &Actor::Cli).await.unwrap();
    s.k.agent().seen(ws, serial, None).await.unwrap();
    let activated =
        s.k.agent()
            .activate(ws, serial, code.activation_code.expose())
            .await
            .unwrap();
    assert_eq!(activated.status, KeyStatus::Active);
    activated
        .key_proof
        .expect("an Active key comes with a key proof")
}
