//! Replication-aware rotation (docs/product.md §3.3) against two real domain controllers of one
//! Samba domain: CORP1's first DC (127.0.0.2) and its second (127.0.0.5, `lab/start-dc2.sh`),
//! which gets CORP1's changes only when the test pulls them (`lab/replicate-dc2.sh`). Each
//! directory URL goes through a byte-level proxy the test controls (`tests/support/proxy.rs`),
//! so a controller can be cut off between two steps of one attempt, and a controller that must
//! not be asked can be seen never to have been.
//!
//! The directory step runs in-process (`Passwords::advance_due`) with a manual clock, on SQLite
//! (a file) and PostgreSQL; each test builds its own OU, group and user (`lab_fixture`).

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

#[path = "../../../tests/support/proxy.rs"]
mod proxy;
mod support;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use chrono::{Duration, Utc};
use keyward_directory::DirectoryConfig;
use keyward_model::{DirectoryAccount, DirectoryName, DomainController, NewAuditRecord};
use keyward_service::{
    AckItem, Actor, Clock as _, Keyward, ManualClock, OpenMode, Settings, Workstation,
};
use keyward_store::{PasswordWrite, Store};
use keyward_test_support::{
    FIXTURE_PASSWORD, LabFixture, TestDb, lab, lab_fixture, lab_reset_password,
};
use proxy::Proxy;
use uuid::Uuid;

use support::{Setup, active_key, approved};

/// One test at a time: each pulls the whole domain into the second DC (`replicate`), which
/// would replicate another test's changes in the middle of its steps.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The lab with CORP1's second DC, or `None` (loudly; a failure under `CI=true`).
fn lab_with_dc2() -> Option<HashMap<String, String>> {
    let lab = lab()?;
    if lab.contains_key("KWLAB_AD1_DC2_LDAPS_URL") {
        return Some(lab);
    }
    assert!(
        !keyward_test_support::in_ci(),
        "lab.env has no KWLAB_AD1_DC2_*: CORP1's second DC is required under CI=true; run lab/up.sh"
    );
    eprintln!("NOTE: lab.env has no KWLAB_AD1_DC2_*; replication tests not run (run lab/up.sh)");
    None
}

/// The domain administrator, for set-up that changes AD (the bind account may be a
/// least-privilege one).
fn admin(lab: &HashMap<String, String>) -> (String, String) {
    (
        lab.get("KWLAB_AD1_ADMIN_DN")
            .unwrap_or(&lab["KWLAB_AD1_BIND_DN"])
            .clone(),
        lab.get("KWLAB_AD1_ADMIN_PASSWORD")
            .unwrap_or(&lab["KWLAB_AD1_BIND_PASSWORD"])
            .clone(),
    )
}

/// Runs an ldap-utils tool against `url` as the administrator.
fn ldap(
    lab: &HashMap<String, String>,
    url: &str,
    tool: &str,
    args: &[&str],
    ldif: &str,
    must: bool,
) {
    let (dn, password) = admin(lab);
    let mut child = Command::new(tool)
        .args(["-x", "-H", url, "-D", &dn, "-w", &password])
        .args(args)
        .env("LDAPTLS_CACERT", &lab["KWLAB_AD1_CA_CERT"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ldif.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        !must || out.status.success(),
        "{tool} on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether `dn` binds with `password` on the controller at `url` (a simple bind over LDAPS).
fn binds(lab: &HashMap<String, String>, url: &str, dn: &str, password: &str) -> bool {
    Command::new("ldapsearch")
        .args(["-x", "-H", url, "-D", dn, "-w", password])
        .args(["-s", "base", "-b", "", "-LLL", "1.1"])
        .env("LDAPTLS_CACERT", &lab["KWLAB_AD1_CA_CERT"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Pulls what changed on CORP1's first DC into the second.
fn replicate(lab: &HashMap<String, String>) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lab/replicate-dc2.sh");
    let out = Command::new(script)
        .arg(&lab["KWLAB_AD1_DC2_DATADIR"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replicate-dc2.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pso_dn(lab: &HashMap<String, String>, name: &str) -> String {
    format!(
        "CN=kw-pso-{name},CN=Password Settings Container,CN=System,{}",
        lab["KWLAB_AD1_BASE_DN"]
    )
}

/// A password settings object on `url`'s controller alone that asks `fixture`'s users for at
/// least 30 characters, so that controller refuses keyward's 24-character candidates. (Named
/// as `lab_fixture`'s own, so the next build of the fixture on the first DC removes it there.)
fn strict_pso(lab: &HashMap<String, String>, url: &str, name: &str, fixture: &LabFixture) {
    let dn = pso_dn(lab, name);
    ldap(lab, url, "ldapdelete", &[&dn], "", false);
    let ldif = format!(
        "dn: {dn}\nobjectClass: msDS-PasswordSettings\n\
         msDS-PasswordSettingsPrecedence: 1\nmsDS-PasswordReversibleEncryptionEnabled: FALSE\n\
         msDS-PasswordHistoryLength: 0\nmsDS-PasswordComplexityEnabled: TRUE\n\
         msDS-MinimumPasswordLength: 30\nmsDS-MinimumPasswordAge: 0\n\
         msDS-MaximumPasswordAge: -37108517437440\nmsDS-LockoutThreshold: 0\n\
         msDS-LockoutObservationWindow: -18000000000\nmsDS-LockoutDuration: -18000000000\n\
         msDS-PSOAppliesTo: {}\n\n",
        fixture.group_dn
    );
    ldap(lab, url, "ldapadd", &[], &ldif, true);
}

/// A proxy in front of the controller at `ip`:636, and the URL keyward is configured with.
fn proxy_to(ip: &str) -> (Proxy, String) {
    let proxy = Proxy::start(&format!("{ip}:0"), format!("{ip}:636").parse().unwrap());
    let url = format!("ldaps://{ip}:{}", proxy.addr.port());
    (proxy, url)
}

/// A Keyward on `db` whose directory corp1 has `urls`, with the lab's bind account.
async fn setup(db: &TestDb, lab: &HashMap<String, String>, urls: Vec<String>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("kek");
    keyward_service::write_new_key_file(&key_file).unwrap();
    reopen(db, lab, urls, dir, true).await
}

/// [`setup`] on a database that may hold a schema already, keeping `dir` (and its KEK).
async fn reopen(
    db: &TestDb,
    lab: &HashMap<String, String>,
    urls: Vec<String>,
    dir: tempfile::TempDir,
    create: bool,
) -> Setup {
    let mut directory = DirectoryConfig::new("corp1", urls, &lab["KWLAB_AD1_BIND_DN"]);
    let bind_password = dir.path().join("bind-password");
    std::fs::write(
        &bind_password,
        format!("{}\n", lab["KWLAB_AD1_BIND_PASSWORD"]),
    )
    .unwrap();
    directory.bind_password_file = Some(bind_password);
    directory.ca_file = Some(lab["KWLAB_AD1_CA_CERT"].clone().into());
    directory.connect_timeout_secs = 3;
    directory.operation_timeout_secs = 10;
    let mut settings = Settings {
        database_url: db.url.clone(),
        directories: vec![directory],
        ..Settings::default()
    };
    settings.secrets.key_file = Some(dir.path().join("kek"));
    settings.passwords.max_attempts = 2;
    settings.passwords.retry_base_secs = 1;
    settings.passwords.retry_max_secs = 2;
    let clock = ManualClock::starting_at(Utc::now());
    let mode = if create {
        OpenMode::CreateIfEmpty
    } else {
        OpenMode::Existing
    };
    let k = Keyward::open_with(&settings, mode)
        .await
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    let store = Store::connect(&db.url).await.unwrap();
    Setup {
        _db: TestDb::sqlite_memory(),
        dir,
        k,
        clock,
        store,
    }
}

/// The fixture user's account on a key whose holder acknowledged the first rotation's
/// candidate: returns (objectGUID, the candidate, the workstation).
async fn acknowledged_rotation(
    s: &Setup,
    fixture: &LabFixture,
    serial: &str,
) -> (Uuid, String, Workstation) {
    let user = &fixture.users[0];
    let employee =
        s.k.employees()
            .create(&user.mail, &format!("{} Fixture", user.sam), &Actor::Cli)
            .await
            .unwrap();
    let guid = Uuid::new_v4();
    s.store
        .upsert_account(&DirectoryAccount {
            directory: DirectoryName::parse("corp1").unwrap(),
            object_guid: guid,
            employee_id: employee.id,
            dn: user.dn.clone(),
            sam_account_name: Some(user.sam.clone()),
            user_principal_name: None,
            mail: None,
            display_name: Some(format!("{} Fixture", user.sam)),
            enabled: true,
            in_rotation_group: true,
            usn_changed: 1,
            last_seen_at: Utc::now(),
            missing_since: None,
        })
        .await
        .unwrap();
    let (ws, _) = approved(s, "WS-REPL").await;
    active_key(s, &ws, serial, &user.mail).await;
    let candidate = fetch_and_acknowledge(s, &ws, serial, guid, 1).await;
    (guid, candidate, ws)
}

/// The key's agent fetches the candidate of `version` and acknowledges it: returns it.
async fn fetch_and_acknowledge(
    s: &Setup,
    ws: &Workstation,
    serial: &str,
    guid: Uuid,
    version: i64,
) -> String {
    let work = s.k.agent().pending(ws, serial).await.unwrap();
    let candidate = work.accounts[0]
        .password
        .as_ref()
        .unwrap()
        .expose()
        .to_owned();
    let ack = AckItem {
        directory: "corp1".into(),
        object_guid: guid,
        version,
    };
    assert_eq!(
        s.k.agent()
            .acknowledge(ws, serial, None, &[ack])
            .await
            .unwrap(),
        1
    );
    candidate
}

/// What a worker leaves when its write reached `controller` and it never learnt the outcome
/// (the reply was lost, or it was killed): the pin it stored before writing, and the
/// candidate in that controller's database.
async fn write_landed_on(
    s: &Setup,
    lab: &HashMap<String, String>,
    guid: Uuid,
    controller: DomainController,
    dn: &str,
    candidate: &str,
) {
    let row = s
        .store
        .account_password("corp1", guid)
        .await
        .unwrap()
        .unwrap();
    let now = s.clock.now();
    s.store
        .save_account_password(&PasswordWrite {
            directory: "corp1".into(),
            object_guid: guid,
            expected_row_version: Some(row.row_version),
            state: keyward_rotation::pinned(&row.state, controller),
            audit: vec![NewAuditRecord {
                actor: "system".into(),
                action: "password.controller_pinned".into(),
                subject: format!("account:corp1/{guid}"),
                detail: serde_json::json!({ "emulated": "a worker whose reply was lost" }),
                at: now,
            }],
            notify: None,
            now,
        })
        .await
        .unwrap();
    lab_reset_password(lab, 1, dn, candidate);
}

/// The controller a rotation in flight is pinned to.
async fn pin(s: &Setup, guid: Uuid) -> Option<DomainController> {
    s.store
        .account_password("corp1", guid)
        .await
        .unwrap()
        .unwrap()
        .state
        .pending
        .and_then(|p| p.controller)
}

/// (action, detail) of every audit record of the account, oldest first.
async fn history(s: &Setup, guid: Uuid) -> Vec<(String, serde_json::Value)> {
    let subject = format!("account:corp1/{guid}");
    let mut records = s.store.list_audit(Some(&subject), 0, 1000).await.unwrap();
    records.sort_by_key(|r| r.seq);
    records
        .into_iter()
        .map(|r| (r.record.action, r.record.detail))
        .collect()
}

async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![TestDb::sqlite_file()];
    if let Some(pg) = TestDb::postgres().await {
        dbs.push(pg);
    }
    dbs
}

/// (a) The first attempt pins the first controller before it writes; the retry's write there is
/// refused, and the verifying bind that decides whether the refusal counts goes to that
/// controller, never to the second one, which has not replicated the candidate and would
/// refuse it: while the pinned controller cannot be reached the step is transient, and once it
/// answers the candidate binds there and the rotation commits.
#[tokio::test(flavor = "multi_thread")]
async fn the_verifying_bind_goes_to_the_controller_the_write_went_to() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let Some(lab) = lab_with_dc2() else { return };
    let dc1 = lab["KWLAB_AD1_LDAPS_URL"].clone();
    let dc2 = lab["KWLAB_AD1_DC2_LDAPS_URL"].clone();
    for (i, db) in databases().await.into_iter().enumerate() {
        let name = format!("repla{i}");
        let fixture = lab_fixture(&lab, 1, &name, &["u"], None);
        let user = fixture.users[0].clone();
        replicate(&lab);
        assert!(
            binds(&lab, &dc2, &user.dn, FIXTURE_PASSWORD),
            "DC2 did not replicate"
        );

        let (p1, url1) = proxy_to(&lab["KWLAB_AD1_IP"]);
        let (p2, url2) = proxy_to(&lab["KWLAB_AD1_DC2_IP"]);
        let s = setup(&db, &lab, vec![url1.clone(), url2.clone()]).await;
        let (guid, candidate, _ws) =
            acknowledged_rotation(&s, &fixture, &format!("HK-RA-{i}")).await;

        // An earlier write of this candidate reached DC1 (its reply was lost), and DC1 now
        // refuses it (a policy that changed): the retry is refused, and only a bind can say
        // whether DC1 holds the candidate. DC2 never saw it.
        lab_reset_password(&lab, 1, &user.dn, &candidate);
        strict_pso(&lab, &dc1, &name, &fixture);
        assert!(
            !binds(&lab, &dc2, &user.dn, &candidate),
            "DC2 has the candidate"
        );

        // DC1 answers the write, then cannot be reached for the verifying bind.
        p1.allow(1);
        let report = s.k.passwords().advance_due().await.unwrap();
        assert_eq!((report.retried, report.refused), (1, 0), "{report:?}");
        let status = &s.k.passwords().status(Some(&user.mail)).await.unwrap()[0];
        assert_eq!(status.state, "awaiting_directory", "{status:?}");
        assert!(
            status
                .last_error
                .as_deref()
                .unwrap()
                .contains("could not be checked"),
            "{status:?}"
        );
        assert_eq!(
            pin(&s, guid).await,
            Some(DomainController {
                url: url1.clone(),
                host: Some(lab["KWLAB_AD1_DC_HOSTNAME"].clone())
            }),
            "the first attempt pins the controller it reached"
        );
        assert_eq!(p2.forwarded(), 0, "DC2 was asked");

        // DC1 is back: its write is refused again, the candidate binds there: applied.
        p1.set_up(true);
        s.clock.advance(Duration::hours(1));
        let report = s.k.passwords().advance_due().await.unwrap();
        assert_eq!((report.committed, report.refused), (1, 0), "{report:?}");
        let status = &s.k.passwords().status(Some(&user.mail)).await.unwrap()[0];
        assert_eq!((status.state.as_str(), status.version), ("idle", 1));
        assert!(binds(&lab, &dc1, &user.dn, &candidate));
        assert_eq!(p2.forwarded(), 0, "DC2 was asked");
        // The commit frees the account; the audit names the controller of every step.
        assert!(pin(&s, guid).await.is_none());
        let steps = history(&s, guid).await;
        let pinned: Vec<_> = steps
            .iter()
            .filter(|(a, _)| a == "password.controller_pinned")
            .collect();
        assert_eq!(pinned.len(), 1, "{steps:?}");
        assert_eq!(
            pinned[0].1["controller"]["host"],
            lab["KWLAB_AD1_DC_HOSTNAME"].as_str()
        );
        for (action, detail) in &steps {
            if action == "password.directory_retry" || action == "password.committed" {
                assert_eq!(
                    detail["controller"]["url"],
                    url1.as_str(),
                    "{action}: {detail}"
                );
            }
        }

        // Replicated, DC2 has it too.
        replicate(&lab);
        assert!(binds(&lab, &dc2, &user.dn, &candidate));
        assert!(!binds(&lab, &dc2, &user.dn, FIXTURE_PASSWORD));
        s.store.close().await.unwrap();
    }
}

/// (b) A fail-over in the middle: the reset reached DC1, whose reply was lost, and DC1 is gone
/// for a while. DC2, which has not replicated the candidate (and would refuse it, a policy of
/// its own), is never asked: the step stays transient and is reported stalled, never rolled
/// back; when DC1 is back the rotation commits there, and the key's candidate binds.
#[tokio::test(flavor = "multi_thread")]
async fn a_fail_over_in_the_middle_never_rolls_back_what_the_first_controller_took() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let Some(lab) = lab_with_dc2() else { return };
    let dc1 = lab["KWLAB_AD1_LDAPS_URL"].clone();
    let dc2 = lab["KWLAB_AD1_DC2_LDAPS_URL"].clone();
    for (i, db) in databases().await.into_iter().enumerate() {
        let name = format!("replb{i}");
        let fixture = lab_fixture(&lab, 1, &name, &["u"], None);
        let user = fixture.users[0].clone();
        replicate(&lab);
        assert!(
            binds(&lab, &dc2, &user.dn, FIXTURE_PASSWORD),
            "DC2 did not replicate"
        );
        strict_pso(&lab, &dc2, &name, &fixture);

        let (p1, url1) = proxy_to(&lab["KWLAB_AD1_IP"]);
        let (p2, url2) = proxy_to(&lab["KWLAB_AD1_DC2_IP"]);
        let s = setup(&db, &lab, vec![url1.clone(), url2.clone()]).await;
        let (guid, candidate, ws) =
            acknowledged_rotation(&s, &fixture, &format!("HK-RB-{i}")).await;
        let dc1_controller = DomainController {
            url: url1.clone(),
            host: Some(lab["KWLAB_AD1_DC_HOSTNAME"].clone()),
        };
        write_landed_on(&s, &lab, guid, dc1_controller.clone(), &user.dn, &candidate).await;
        p1.set_up(false);

        // DC1 unreachable: transient, stalled after max_attempts, never decided by DC2.
        for round in 0..3 {
            let report = s.k.passwords().advance_due().await.unwrap();
            assert_eq!(
                (report.retried, report.refused),
                (1, 0),
                "round {round}: {report:?}"
            );
            s.clock.advance(Duration::hours(1));
        }
        let status = &s.k.passwords().status(Some(&user.mail)).await.unwrap()[0];
        assert_eq!(status.state, "awaiting_directory", "{status:?}");
        assert!(status.overdue, "stalled after max_attempts: {status:?}");
        assert_eq!(p2.forwarded(), 0, "DC2 was asked");
        assert!(
            s.k.agent()
                .pending(&ws, &format!("HK-RB-{i}"))
                .await
                .unwrap()
                .accounts
                .is_empty(),
            "a roll-back was sent to the key"
        );
        assert_eq!(pin(&s, guid).await, Some(dc1_controller));
        assert!(binds(&lab, &dc1, &user.dn, &candidate));
        assert!(binds(&lab, &dc2, &user.dn, FIXTURE_PASSWORD));

        // DC1 is back: the step goes on there and commits.
        p1.set_up(true);
        let report = s.k.passwords().advance_due().await.unwrap();
        assert_eq!(report.committed, 1, "{report:?}");
        let status = &s.k.passwords().status(Some(&user.mail)).await.unwrap()[0];
        assert_eq!((status.state.as_str(), status.version), ("idle", 1));
        assert_eq!(p2.forwarded(), 0, "DC2 was asked");
        assert!(
            binds(&lab, &dc1, &user.dn, &candidate),
            "the key's candidate does not bind"
        );
        let stalled = history(&s, guid)
            .await
            .into_iter()
            .filter(|(a, d)| {
                a == "password.directory_stalled" && d["controller"]["url"] == url1.as_str()
            })
            .count();
        assert_eq!(stalled, 1);
        replicate(&lab);
        assert!(binds(&lab, &dc2, &user.dn, &candidate));
        ldap(&lab, &dc2, "ldapdelete", &[&pso_dn(&lab, &name)], "", false);
        s.store.close().await.unwrap();
    }
}

/// (c) The pinned controller is gone for good and its URL was removed from the configuration:
/// the pin is released (audited), and the step goes on at the configured controller, which
/// pins in turn.
#[tokio::test(flavor = "multi_thread")]
async fn removing_a_controller_from_the_configuration_releases_its_pins() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let Some(lab) = lab_with_dc2() else { return };
    let dc2 = lab["KWLAB_AD1_DC2_LDAPS_URL"].clone();
    for (i, db) in databases().await.into_iter().enumerate() {
        let name = format!("replc{i}");
        let fixture = lab_fixture(&lab, 1, &name, &["u"], None);
        let user = fixture.users[0].clone();
        replicate(&lab);
        let gone = DomainController {
            url: "ldaps://127.0.0.2:1".into(),
            host: Some(lab["KWLAB_AD1_DC_HOSTNAME"].clone()),
        };
        let first = setup(&db, &lab, vec![gone.url.clone(), dc2.clone()]).await;
        let (guid, candidate, _ws) =
            acknowledged_rotation(&first, &fixture, &format!("HK-RC-{i}")).await;
        // Pinned to a controller that does not answer: transient, and DC2 is not asked.
        let row = first
            .store
            .account_password("corp1", guid)
            .await
            .unwrap()
            .unwrap();
        let now = first.clock.now();
        first
            .store
            .save_account_password(&PasswordWrite {
                directory: "corp1".into(),
                object_guid: guid,
                expected_row_version: Some(row.row_version),
                state: keyward_rotation::pinned(&row.state, gone.clone()),
                audit: vec![],
                notify: None,
                now,
            })
            .await
            .unwrap();
        let report = first.k.passwords().advance_due().await.unwrap();
        assert_eq!(report.retried, 1, "{report:?}");
        assert!(binds(&lab, &dc2, &user.dn, FIXTURE_PASSWORD));
        first.store.close().await.unwrap();

        // The administrator removes its URL: the next step releases the pin and goes to DC2.
        let s = reopen(&db, &lab, vec![dc2.clone()], first.dir, false).await;
        s.clock.advance(Duration::hours(1));
        let report = s.k.passwords().advance_due().await.unwrap();
        assert_eq!(report.committed, 1, "{report:?}");
        assert!(binds(&lab, &dc2, &user.dn, &candidate));
        let steps: Vec<String> = history(&s, guid)
            .await
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        let released = steps
            .iter()
            .position(|a| a == "password.controller_released");
        let pinned = steps
            .iter()
            .rposition(|a| a == "password.controller_pinned");
        assert!(
            matches!((released, pinned), (Some(r), Some(p)) if r < p),
            "released, then pinned to DC2: {steps:?}"
        );
        s.store.close().await.unwrap();
    }
}

/// (d) The pinned URL now reaches another controller (a name re-pointed, or a load balancer):
/// that controller may not hold what was written on the pinned one, so nothing is written there
/// and nothing is decided by it; the step is transient and names both controllers.
#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_url_that_answers_as_another_controller_is_not_written_to() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let Some(lab) = lab_with_dc2() else { return };
    let dc2 = lab["KWLAB_AD1_DC2_LDAPS_URL"].clone();
    for (i, db) in databases().await.into_iter().enumerate() {
        let name = format!("repld{i}");
        let fixture = lab_fixture(&lab, 1, &name, &["u"], None);
        let user = fixture.users[0].clone();
        replicate(&lab);
        let s = setup(&db, &lab, vec![dc2.clone()]).await;
        let (guid, candidate, _ws) =
            acknowledged_rotation(&s, &fixture, &format!("HK-RD-{i}")).await;
        // Pinned to DC1 under the URL that reaches DC2.
        let dc1_host = lab["KWLAB_AD1_DC_HOSTNAME"].clone();
        let row = s
            .store
            .account_password("corp1", guid)
            .await
            .unwrap()
            .unwrap();
        let now = s.clock.now();
        let pinned = DomainController {
            url: dc2.clone(),
            host: Some(dc1_host.clone()),
        };
        s.store
            .save_account_password(&PasswordWrite {
                directory: "corp1".into(),
                object_guid: guid,
                expected_row_version: Some(row.row_version),
                state: keyward_rotation::pinned(&row.state, pinned.clone()),
                audit: vec![],
                notify: None,
                now,
            })
            .await
            .unwrap();

        let report = s.k.passwords().advance_due().await.unwrap();
        assert_eq!((report.retried, report.refused), (1, 0), "{report:?}");
        let status = &s.k.passwords().status(Some(&user.mail)).await.unwrap()[0];
        assert_eq!(status.state, "awaiting_directory", "{status:?}");
        let error = status.last_error.as_deref().unwrap();
        assert!(
            error.contains("answered as domain controller") && error.contains(&dc1_host),
            "{error}"
        );
        assert_eq!(pin(&s, guid).await, Some(pinned), "the pin is kept");
        assert!(binds(&lab, &dc2, &user.dn, FIXTURE_PASSWORD));
        assert!(!binds(&lab, &dc2, &user.dn, &candidate));
        s.store.close().await.unwrap();
    }
}

/// Where the account's last commit was written, as stored.
async fn last_commit(s: &Setup, guid: Uuid) -> keyward_rotation::LastCommit {
    s.store
        .account_password("corp1", guid)
        .await
        .unwrap()
        .unwrap()
        .state
        .last_commit
        .expect("the commit records where it was written")
}

/// The key's holder rotates the account again and acknowledges the candidate (`version`).
async fn rotate_and_acknowledge(
    s: &Setup,
    ws: &Workstation,
    serial: &str,
    mail: &str,
    guid: Uuid,
    version: i64,
) -> String {
    s.k.passwords()
        .rotate(mail, None, &Actor::Cli)
        .await
        .unwrap();
    fetch_and_acknowledge(s, ws, serial, guid, version).await
}

/// (e) A later rotation never fails over to a controller that has not replicated the last
/// commit: AD settles two unreplicated changes of a password by version before time
/// (`lab/probe-password-versions.py`), so a write there could be undone by replication. The
/// commit records DC1's `unicodePwd` version; with DC1 gone, the next rotation reads DC2's,
/// finds it lower and waits without writing; once DC2 has replicated, it goes on there, and
/// further replication keeps it.
#[tokio::test(flavor = "multi_thread")]
async fn a_later_rotation_waits_for_a_controller_that_has_not_replicated_the_last_commit() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let Some(lab) = lab_with_dc2() else { return };
    let dc2 = lab["KWLAB_AD1_DC2_LDAPS_URL"].clone();
    for (i, db) in databases().await.into_iter().enumerate() {
        let name = format!("reple{i}");
        let fixture = lab_fixture(&lab, 1, &name, &["u"], None);
        let user = fixture.users[0].clone();
        replicate(&lab);
        let (p1, url1) = proxy_to(&lab["KWLAB_AD1_IP"]);
        let (p2, url2) = proxy_to(&lab["KWLAB_AD1_DC2_IP"]);
        let s = setup(&db, &lab, vec![url1.clone(), url2.clone()]).await;
        let serial = format!("HK-RE-{i}");
        let (guid, _first, ws) = acknowledged_rotation(&s, &fixture, &serial).await;
        // The first rotation commits on DC1, which gives its version.
        let report = s.k.passwords().advance_due().await.unwrap();
        assert_eq!(report.committed, 1, "{report:?}");
        let first_commit = last_commit(&s, guid).await;
        assert_eq!(first_commit.controller.url, url1);
        assert!(first_commit.password_version >= 2, "{first_commit:?}");
        assert_eq!(p2.forwarded(), 0, "DC2 was asked");

        // DC1 goes away before DC2 replicated that; the key takes a second candidate.
        p1.set_up(false);
        let second = rotate_and_acknowledge(&s, &ws, &serial, &user.mail, guid, 2).await;
        for round in 0..2 {
            let report = s.k.passwords().advance_due().await.unwrap();
            assert_eq!(
                (report.committed, report.retried),
                (0, 1),
                "round {round}: {report:?}"
            );
            s.clock.advance(Duration::hours(1));
        }
        let status = &s.k.passwords().status(Some(&user.mail)).await.unwrap()[0];
        assert_eq!(status.state, "awaiting_directory", "{status:?}");
        assert!(
            status
                .last_error
                .as_deref()
                .unwrap()
                .contains("has not replicated this account's last password"),
            "{status:?}"
        );
        assert!(p2.forwarded() > 0, "DC2 was not asked for its version");
        assert_eq!(pin(&s, guid).await, None, "a controller was pinned");
        assert!(
            binds(&lab, &dc2, &user.dn, FIXTURE_PASSWORD),
            "DC2 was written to"
        );

        // DC2 replicates the first rotation: the second goes there, and replication keeps it.
        replicate(&lab);
        let report = s.k.passwords().advance_due().await.unwrap();
        assert_eq!(report.committed, 1, "{report:?}");
        assert!(binds(&lab, &dc2, &user.dn, &second));
        let second_commit = last_commit(&s, guid).await;
        assert_eq!(second_commit.controller.url, url2);
        assert!(second_commit.password_version > first_commit.password_version);
        replicate(&lab);
        assert!(
            binds(&lab, &dc2, &user.dn, &second),
            "replication undid the second rotation"
        );
        s.store.close().await.unwrap();
    }
}
