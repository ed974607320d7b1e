//! `keyward sync` end to end against the two real Samba AD domains: merge across domains, then
//! changes in the directory seen by incremental runs, dry runs, held removals, a failing search,
//! and the lease that keeps two runs of one directory apart.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use keyward_test_support::{TestDb, bin_path};
use serde_json::Value;

struct Lab {
    env: HashMap<String, String>,
}

impl Lab {
    fn v(&self, key: &str) -> &str {
        &self.env[key]
    }

    /// Runs ldapmodify on CORP2 with `ldif`; `-c` keeps going past "no such object" cleanups.
    fn modify(&self, ldif: &str, tolerate_errors: bool) {
        let mut child = Command::new("ldapmodify")
            .env("LDAPTLS_CACERT", self.v("KWLAB_AD2_CA_CERT"))
            .args([
                "-x",
                "-H",
                self.v("KWLAB_AD2_LDAPS_URL"),
                "-D",
                self.v("KWLAB_AD2_ADMIN_DN"),
                "-w",
                self.v("KWLAB_AD2_ADMIN_PASSWORD"),
            ])
            .args(if tolerate_errors { vec!["-c"] } else { vec![] })
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
            tolerate_errors || out.status.success(),
            "ldapmodify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn base(&self) -> String {
        format!("OU=KeywardLab,{}", self.v("KWLAB_AD2_BASE_DN"))
    }

    fn dn(&self, sam: &str) -> String {
        format!("CN={sam},{}", self.base())
    }

    fn group(&self) -> String {
        self.v("KWLAB_AD2_SYNC_GROUP_DN").to_owned()
    }

    fn add_user(&self, sam: &str, mail: &str, member: bool) {
        let dn = self.dn(sam);
        let lower = sam.to_ascii_lowercase();
        self.modify(&format!(
            "dn: {dn}\nchangetype: add\nobjectClass: user\nsAMAccountName: {sam}\nuserPrincipalName: {lower}@corp2.test\nmail: {mail}\ndisplayName: {sam} Original\nuserAccountControl: 512\n\n"
        ), false);
        if member {
            self.set_member(sam, true);
        }
    }

    fn set_member(&self, sam: &str, member: bool) {
        let op = if member { "add" } else { "delete" };
        self.modify(
            &format!(
                "dn: {}\nchangetype: modify\n{op}: member\nmember: {}\n\n",
                self.group(),
                self.dn(sam)
            ),
            false,
        );
    }

    fn replace(&self, sam: &str, attribute: &str, value: &str) {
        self.modify(
            &format!(
                "dn: {}\nchangetype: modify\nreplace: {attribute}\n{attribute}: {value}\n\n",
                self.dn(sam)
            ),
            false,
        );
    }

    fn delete(&self, sam: &str) {
        self.modify(
            &format!("dn: {}\nchangetype: delete\n\n", self.dn(sam)),
            true,
        );
    }

    fn cleanup(&self) {
        for sam in TEST_USERS {
            self.delete(sam);
        }
    }
}

const TEST_USERS: [&str; 5] = ["kwsA", "kwsB", "kwsC", "kwsD", "kwsE"];

fn config(dir: &Path, lab: &Lab, sync_extra: &str, corp2_extra: &str) -> PathBuf {
    let path = dir.join("keyward.toml");
    let text = format!(
        "[sync]\n{sync_extra}\n\n[[directories]]\nname = \"corp1\"\nurls = [\"{}\"]\nca_file = \"{}\"\nbind_dn = \"{}\"\nbind_password_env = \"KWT_CORP1\"\npriority = 10\n\n[[directories]]\nname = \"corp2\"\nurls = [\"{}\"]\nca_file = \"{}\"\nbind_dn = \"{}\"\nbind_password_env = \"KWT_CORP2\"\n{corp2_extra}\n",
        lab.v("KWLAB_AD1_LDAPS_URL"),
        lab.v("KWLAB_AD1_CA_CERT"),
        lab.v("KWLAB_AD1_BIND_DN"),
        lab.v("KWLAB_AD2_LDAPS_URL"),
        lab.v("KWLAB_AD2_CA_CERT"),
        lab.v("KWLAB_AD2_BIND_DN"),
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn keyward(lab: &Lab, config: &Path, db: &str, args: &[&str]) -> Output {
    Command::new(bin_path("keyward"))
        .arg("--config")
        .arg(config)
        .args(["--database-url", db, "--output", "json"])
        .args(args)
        .env("KWT_CORP1", lab.v("KWLAB_AD1_BIND_PASSWORD"))
        .env("KWT_CORP2", lab.v("KWLAB_AD2_BIND_PASSWORD"))
        .output()
        .unwrap()
}

fn json_ok(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "keyward failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn report<'a>(reports: &'a Value, directory: &str) -> &'a Value {
    reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["directory"] == directory)
        .unwrap()
}

fn employees(lab: &Lab, config: &Path, db: &str) -> Vec<Value> {
    json_ok(&keyward(lab, config, db, &["employees", "list"]))
        .as_array()
        .unwrap()
        .clone()
}

fn employee_with_sam<'a>(list: &'a [Value], sam: &str) -> Option<&'a Value> {
    list.iter().find(|e| {
        e["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["sam_account_name"] == sam)
    })
}

async fn scenario(lab: &Lab, db: &TestDb) {
    let label = db.label;
    let url = db.url.as_str();
    keyward_test_support::cli_migrate(url);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        lab,
        // Small batches: the CORP1 fixtures and the kws users span several transactions.
        "max_removal_percent = 100\nmax_removals = 10\nbatch_accounts = 3",
        "",
    );
    lab.cleanup();
    lab.add_user("kwsA", "kwsa@kws.example.com", true);
    lab.add_user("kwsB", "kwsb@kws.example.com", true);
    lab.add_user("kwsC", "kwsc@kws.example.com", true);
    lab.add_user("kwsD", "kwsd@kws.example.com", false);
    lab.add_user("kwsE", "kwse@kws.example.com", true);

    // A dry run plans and writes nothing.
    let dry = json_ok(&keyward(lab, &cfg, url, &["sync", "--dry-run"]));
    assert_eq!(report(&dry, "corp1")["dry_run"], true);
    assert!(report(&dry, "corp1")["created"].as_u64().unwrap() > 0);
    assert!(
        employees(lab, &cfg, url).is_empty(),
        "{label}: a dry run writes nothing"
    );

    // First run: full, merged across the two domains.
    let first = json_ok(&keyward(lab, &cfg, url, &["sync"]));
    let c1 = report(&first, "corp1");
    let c2 = report(&first, "corp2");
    assert_eq!(c1["mode"], "full", "{label}");
    assert_eq!(
        c1["read"], 7,
        "{label}: alice bob carol dave erin frank frank2"
    );
    assert_eq!(
        c1["conflicts"].as_array().unwrap().len(),
        1,
        "{label}: frank and frank2 share a mail"
    );
    assert_eq!(c1["conflicts"][0]["email"], "dup@corp1.example.com");
    assert_eq!(c1["not_mergeable"], 1, "{label}: erin has no mail");
    assert_eq!(
        c2["read"], 7,
        "{label}: alice grace heidi and kwsA kwsB kwsC kwsE"
    );
    let list = employees(lab, &cfg, url);
    let alice: Vec<&Value> = list
        .iter()
        .filter(|e| e["email"] == "alice@shared.example.com")
        .collect();
    assert_eq!(alice.len(), 1, "{label}: one alice");
    assert_eq!(
        alice[0]["accounts"].as_array().unwrap().len(),
        2,
        "{label}: alice from both domains"
    );
    assert!(
        employee_with_sam(&list, "frank").is_none(),
        "{label}: conflicting accounts are not imported"
    );
    assert_eq!(
        employee_with_sam(&list, "dave").unwrap()["status"],
        "disabled",
        "{label}"
    );
    assert_eq!(
        employee_with_sam(&list, "erin").unwrap()["email"],
        Value::Null,
        "{label}"
    );
    assert!(
        employee_with_sam(&list, "carol").is_some(),
        "{label}: nested member"
    );
    assert!(
        employee_with_sam(&list, "WS001$").is_none(),
        "{label}: computers are not accounts"
    );
    assert!(
        employee_with_sam(&list, "kwsD").is_none(),
        "{label}: not in the group"
    );
    let renamed_user_id = employee_with_sam(&list, "kwsA").unwrap()["id"].clone();
    let remailed_user_id = employee_with_sam(&list, "kwsB").unwrap()["id"].clone();

    // A second run with no directory change plans nothing.
    let second = json_ok(&keyward(lab, &cfg, url, &["sync"]));
    for d in ["corp1", "corp2"] {
        let r = report(&second, d);
        assert_eq!(r["mode"], "incremental", "{label}");
        for k in [
            "created",
            "updated",
            "missing",
            "removed",
            "employees_created",
            "employees_updated",
        ] {
            assert_eq!(r[k], 0, "{label}: {d} {k} on an unchanged directory");
        }
    }

    // A cursor a day short of the domain's tombstone lifetime (Samba: 180 days): deletions
    // since may have left no tombstone, so the run reads everything and says why.
    let aged = (chrono::Utc::now() - chrono::Duration::days(179))
        .format("%Y-%m-%d %H:%M:%S%.6f+00:00")
        .to_string();
    keyward_test_support::execute_sql(
        url,
        &format!("UPDATE sync_cursors SET updated_at = '{aged}' WHERE directory = 'corp1'"),
    )
    .await;
    let aged_run = json_ok(&keyward(lab, &cfg, url, &["sync"]));
    let r = report(&aged_run, "corp1");
    assert_eq!(r["mode"], "full", "{label}: {r}");
    assert!(
        r["full_reason"]
            .as_str()
            .is_some_and(|why| why.contains("179 days old") && why.contains("180 days")),
        "{label}: {r}"
    );
    assert_eq!(r["created"], 0, "{label}: {r}");
    assert_eq!(report(&aged_run, "corp2")["mode"], "incremental", "{label}");

    // Changes: a rename, an e-mail change, a removal from the group, a deletion, a new member.
    lab.replace("kwsA", "displayName", "kwsA Renamed");
    lab.replace("kwsB", "mail", "kwsb.new@kws.example.com");
    lab.set_member("kwsC", false);
    lab.delete("kwsE");
    lab.set_member("kwsD", true);

    // Two leavers are more than max_removals = 1: held, then confirmed.
    let strict = tempfile::tempdir().unwrap();
    let strict_cfg = config(
        strict.path(),
        lab,
        "max_removal_percent = 100\nmax_removals = 1\nbatch_accounts = 2",
        "",
    );
    let held = json_ok(&keyward(lab, &strict_cfg, url, &["sync", "corp2"]));
    let h = report(&held, "corp2");
    assert_eq!(h["mode"], "incremental", "{label}");
    assert_eq!(h["held"], 2, "{label}: {h}");
    assert_eq!(h["missing"], 0, "{label}");
    assert_eq!(h["created"], 1, "{label}: kwsD joined");
    assert_eq!(h["updated"], 2, "{label}: kwsA renamed, kwsB new mail: {h}");
    let list = employees(lab, &cfg, url);
    assert_eq!(
        employee_with_sam(&list, "kwsA").unwrap()["id"],
        renamed_user_id,
        "{label}: a rename keeps the employee"
    );
    assert_eq!(
        employee_with_sam(&list, "kwsA").unwrap()["display_name"],
        "kwsA Renamed",
        "{label}"
    );
    let b = employee_with_sam(&list, "kwsB").unwrap();
    assert_eq!(
        b["id"], remailed_user_id,
        "{label}: an e-mail change keeps the employee"
    );
    assert_eq!(b["email"], "kwsb.new@kws.example.com", "{label}");
    assert_eq!(
        employee_with_sam(&list, "kwsC").unwrap()["status"],
        "active",
        "{label}: held, so still active"
    );

    // The next incremental run still sees them leaving: held removals do not move the cursor.
    let again = json_ok(&keyward(lab, &strict_cfg, url, &["sync", "corp2"]));
    let h = report(&again, "corp2");
    assert_eq!(h["mode"], "incremental", "{label}");
    assert_eq!(h["held"], 2, "{label}: held again, not forgotten: {h}");
    let run_id = h["run_id"].as_str().unwrap().to_owned();
    let confirmed = json_ok(&keyward(
        lab,
        &strict_cfg,
        url,
        &["sync", "corp2", "--confirm-removals", &run_id],
    ));
    let c = report(&confirmed, "corp2");
    assert_eq!(c["missing"], 2, "{label}: {c}");
    let list = employees(lab, &cfg, url);
    assert_eq!(
        employee_with_sam(&list, "kwsC").unwrap()["status"],
        "disabled",
        "{label}: left the group"
    );
    assert_eq!(
        employee_with_sam(&list, "kwsE").unwrap()["status"],
        "disabled",
        "{label}: deleted"
    );
    assert_eq!(
        employee_with_sam(&list, "kwsD").unwrap()["status"],
        "active",
        "{label}"
    );

    // A search that fails removes nothing and fails the run with exit code 8.
    let broken_dir = tempfile::tempdir().unwrap();
    let broken = config(
        broken_dir.path(),
        lab,
        "",
        &format!("base_dn = \"OU=Gone,{}\"", lab.v("KWLAB_AD2_BASE_DN")),
    );
    let before = employees(lab, &cfg, url);
    let failed = keyward(lab, &broken, url, &["sync", "corp2", "--full"]);
    assert_eq!(
        failed.status.code(),
        Some(8),
        "{label}: {}",
        String::from_utf8_lossy(&failed.stderr)
    );
    let out: Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(report(&out, "corp2")["status"], "failed");
    assert_eq!(
        employees(lab, &cfg, url),
        before,
        "{label}: a failed run changes nothing"
    );
    let runs = json_ok(&keyward(lab, &cfg, url, &["sync", "runs"]));
    assert_eq!(
        runs[0]["status"], "failed",
        "{label}: the failed run is recorded"
    );
    let shown = json_ok(&keyward(
        lab,
        &cfg,
        url,
        &["sync", "show", runs[0]["id"].as_str().unwrap()],
    ));
    assert!(
        shown["error"].as_str().unwrap().contains("search failed"),
        "{label}: {shown}"
    );

    // One run per directory: a live lease held elsewhere refuses the run; an expired one (a
    // crashed holder) does not.
    let store = keyward_store::Store::connect(url).await.unwrap();
    let corp2 = keyward_model::DirectoryName::parse("corp2").unwrap();
    let now = chrono::Utc::now();
    assert!(
        store
            .acquire_lease(
                &corp2,
                "another-process",
                now,
                now + chrono::Duration::seconds(60)
            )
            .await
            .unwrap()
    );
    let busy = keyward(lab, &cfg, url, &["sync", "corp2"]);
    assert_eq!(
        busy.status.code(),
        Some(5),
        "{label}: {}",
        String::from_utf8_lossy(&busy.stdout)
    );
    assert!(String::from_utf8_lossy(&busy.stdout).contains("already running"));
    store
        .release_lease(&corp2, "another-process")
        .await
        .unwrap();
    assert!(
        store
            .acquire_lease(
                &corp2,
                "crashed-process",
                now - chrono::Duration::seconds(120),
                now - chrono::Duration::seconds(60)
            )
            .await
            .unwrap()
    );
    json_ok(&keyward(lab, &cfg, url, &["sync", "corp2"]));
    store.close().await.unwrap();

    // Two runs started together: never both refused, never a broken state.
    let spawn = || {
        Command::new(bin_path("keyward"))
            .arg("--config")
            .arg(&cfg)
            .args(["--database-url", url, "--output", "json", "sync", "corp2"])
            .env("KWT_CORP1", lab.v("KWLAB_AD1_BIND_PASSWORD"))
            .env("KWT_CORP2", lab.v("KWLAB_AD2_BIND_PASSWORD"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first_run, second_run) = (spawn(), spawn());
    let codes = [
        first_run.wait_with_output().unwrap().status.code(),
        second_run.wait_with_output().unwrap().status.code(),
    ];
    assert!(codes.contains(&Some(0)), "{label}: {codes:?}");
    assert!(
        codes.iter().all(|c| *c == Some(0) || *c == Some(5)),
        "{label}: {codes:?}"
    );

    lab.cleanup();
}

struct CleanupOnDrop<'a>(&'a Lab);

impl Drop for CleanupOnDrop<'_> {
    fn drop(&mut self) {
        self.0.cleanup();
    }
}

#[tokio::test]
async fn sync_merges_and_follows_directory_changes() {
    let Some(env) = keyward_test_support::lab() else {
        return;
    };
    let lab = Lab { env };
    // The test users live in the shared CORP2 fixture OU and sync group: remove them even when
    // the scenario fails half-way, or the other lab tests would see them.
    let _cleanup = CleanupOnDrop(&lab);
    scenario(&lab, &TestDb::sqlite_file()).await;
    if let Some(pg) = TestDb::postgres().await {
        scenario(&lab, &pg).await;
    }
}
