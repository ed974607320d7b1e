//! A person merged from two real domains whose e-mail changes in one of them only: the next
//! incremental run splits the account off to the employee of its new e-mail, takes it off the
//! key it was on and cancels its rotation, and a full run then plans nothing, as a full run into
//! an empty database builds the same employees.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

#[path = "support/target.rs"]
mod target;

use std::collections::BTreeSet;

use keyward_test_support::{TestDb, lab, lab_fixture, lab_modify};
use serde_json::Value;
use target::{Target, directory_toml, passwords_in};

/// Employees as (e-mail, the set of their accounts as `directory/objectGUID`).
fn employee_set(list: &Value) -> BTreeSet<(String, BTreeSet<String>)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["email"].as_str().unwrap_or("-").to_owned(),
                e["accounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| {
                        format!(
                            "{}/{}",
                            a["directory"].as_str().unwrap(),
                            a["object_guid"].as_str().unwrap()
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mail_changed_in_one_domain_splits_the_account_off_its_key_and_employee() {
    let Some(lab) = lab() else { return };
    let one = lab_fixture(&lab, 1, "split", &["pat"], None);
    let two = lab_fixture(&lab, 2, "split", &["pat"], None);
    let mail = one.users[0].mail.clone();
    assert_eq!(mail, two.users[0].mail, "the same person in both domains");
    let directories = directory_toml(&lab, 1, "corp1", &one.group_dn, false, 10)
        + &directory_toml(&lab, 2, "corp2", &two.group_dn, true, 0);
    let db = TestDb::sqlite_file();
    let t = Target::start_with(lab.clone(), &directories, &db.url);
    let merged = t.cli(&["employees", "show", &mail]);
    assert_eq!(merged["accounts"].as_array().unwrap().len(), 2, "{merged}");

    // The key is activated: the first rotation of the corp2 account waits for it.
    let ws = t.workstation("WS-PAT").await;
    let code = t.assign("SK-1", &mail);
    t.activate_on(&ws, "SK-1", &code).await;
    let (_, work) = t.pending(&ws, "SK-1").await;
    assert_eq!(passwords_in(&work).len(), 1, "{work}");
    assert_eq!(work["accounts"][0]["directory"], "corp2");

    // The mail changes in CORP2 only.
    let new_mail = "pat.new@split.example.com";
    lab_modify(
        &lab,
        2,
        &format!(
            "dn: {}\nchangetype: modify\nreplace: mail\nmail: {new_mail}\n\n",
            two.users[0].dn
        ),
    );
    let run = t.cli(&["sync", "corp2"]);
    let report = &run[0];
    assert_eq!(report["mode"], "incremental", "{report}");
    assert_eq!(report["splits"], 1, "{report}");
    assert_eq!(report["employees_created"], 1, "{report}");
    let split = report["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["change"] == "split")
        .unwrap_or_else(|| panic!("no split outcome: {report}"));
    assert!(
        split["reasons"][0].as_str().unwrap().contains(new_mail),
        "{split}"
    );

    // Two employees now: the old one keeps the corp1 account (and the key), the new one has
    // the corp2 account.
    let old = t.cli(&["employees", "show", &mail]);
    let new = t.cli(&["employees", "show", new_mail]);
    assert_eq!(old["accounts"].as_array().unwrap().len(), 1, "{old}");
    assert_eq!(old["accounts"][0]["directory"], "corp1");
    assert_eq!(new["accounts"].as_array().unwrap().len(), 1, "{new}");
    assert_eq!(new["accounts"][0]["directory"], "corp2");
    assert_eq!(t.cli(&["keys", "show", "SK-1"])["employee"]["email"], mail);

    // The account left the key and its rotation was cancelled: the key gets nothing of it.
    let state = &t.cli(&["passwords", "status", "--employee", new_mail])[0];
    assert_eq!(
        (state["state"].as_str(), state["key_serial"].as_str()),
        (Some("idle"), None),
        "{state}"
    );
    assert!(
        state["last_error"].as_str().unwrap().contains("split"),
        "{state}"
    );
    let (status, work) = t.pending(&ws, "SK-1").await;
    assert_eq!(status, 200, "{work}");
    assert!(passwords_in(&work).is_empty(), "{work}");

    // A full run plans nothing more.
    let full = t.cli(&["sync", "--full", "--dry-run"]);
    for report in full.as_array().unwrap() {
        for counter in [
            "created",
            "updated",
            "employees_created",
            "employees_updated",
            "splits",
            "merged",
        ] {
            assert_eq!(report[counter], 0, "{counter}: {report}");
        }
    }

    // And a full run into an empty database builds the same employees.
    let fresh = TestDb::sqlite_file();
    let rebuilt = Target::start_with(lab.clone(), &directories, &fresh.url);
    assert_eq!(
        employee_set(&rebuilt.cli(&["employees", "list"])),
        employee_set(&t.cli(&["employees", "list"]))
    );
}
