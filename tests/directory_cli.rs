//! `keyward directory test` against the real Samba AD lab.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::HashMap;
use std::process::{Command, Output};

use keyward_test_support::bin_path;
use serde_json::Value;

fn config_file(
    dir: &std::path::Path,
    lab: &HashMap<String, String>,
    extra: &str,
) -> std::path::PathBuf {
    let path = dir.join("keyward.toml");
    let text = format!(
        "[[directories]]\nname = \"corp1\"\nurls = [\"ldaps://127.0.0.9:1636\", \"{}\"]\nca_file = \"{}\"\nbind_dn = \"{}\"\nbind_password_env = \"KW_TEST_CORP1_PW\"\nconnect_timeout_secs = 3\n{extra}\n",
        lab["KWLAB_AD1_LDAPS_URL"], lab["KWLAB_AD1_CA_CERT"], lab["KWLAB_AD1_BIND_DN"]
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn run(config: &std::path::Path, password: &str, args: &[&str]) -> Output {
    Command::new(bin_path("keyward"))
        .arg("--config")
        .arg(config)
        .args(["--database-url", "sqlite::memory:"])
        .args(args)
        .env("KW_TEST_CORP1_PW", password)
        .output()
        .unwrap()
}

#[test]
fn directory_test_reports_support_and_member_counts() {
    let Some(lab) = keyward_test_support::lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let password = lab["KWLAB_AD1_BIND_PASSWORD"].clone();

    let config = config_file(dir.path(), &lab, "");
    let out = run(
        &config,
        &password,
        &["--output", "json", "directory", "test", "corp1"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["netbios_name"], "CORP1");
    assert_eq!(
        report["url"], lab["KWLAB_AD1_LDAPS_URL"],
        "failed over past the dead first URL"
    );
    assert_eq!(report["supports"]["paged_results"], true);
    assert_eq!(report["supports"]["in_chain"], true);
    assert_eq!(report["groups"][0]["users"], 7);
    assert_eq!(report["groups"][1]["users"], 2);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&password));

    let text = run(&config, &password, &["directory", "test", "corp1"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains("paged results yes") && text.contains("(7 users)"),
        "{text}"
    );

    // Walking the groups gives the same counts.
    let walk = config_file(dir.path(), &lab, "membership = \"walk\"");
    let out = run(
        &walk,
        &password,
        &["--output", "json", "directory", "test", "corp1"],
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["membership"], "walk");
    assert_eq!(report["groups"][0]["users"], 7);

    // Failures: non-zero exit and a reason that says what to fix, never the password.
    let wrong = run(&config, "definitely-wrong", &["directory", "test", "corp1"]);
    assert_eq!(wrong.status.code(), Some(8));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("wrong password") && !stderr.contains("definitely-wrong"),
        "{stderr}"
    );

    let missing_group = config_file(dir.path(), &lab, "sync_group = \"No Such Group\"");
    let out = run(&missing_group, &password, &["directory", "test", "corp1"]);
    assert_eq!(out.status.code(), Some(8));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No Such Group"));

    let unknown = run(&config, &password, &["directory", "test", "corp9"]);
    assert_eq!(unknown.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("configured: corp1"));
}

/// The rights check and the password policy in `directory test`: the least-privilege service
/// account passes; the one without Reset Password is named with the right it lacks, exit 8;
/// members under a fine-grained policy get its length.
#[test]
fn directory_test_checks_the_service_accounts_rights_and_the_password_policy() {
    let Some(lab) = keyward_test_support::lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let password = lab["KWLAB_AD1_BIND_PASSWORD"].clone();
    let json = ["--output", "json", "directory", "test", "corp1"];

    let config = config_file(dir.path(), &lab, "");
    let out = run(&config, &password, &json);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["service_account"]["sid"], lab["KWLAB_AD1_SVC_SID"]);
    assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["service_account"]["sees_deleted_users"], true);
    assert!(
        !report["warnings"].to_string().contains("deleted users"),
        "{report:#}"
    );
    let members = report["sampled_members"].as_array().unwrap();
    assert_eq!(members.len(), 2, "alice and bob: {report:#}");
    for m in members {
        assert_eq!(m["reset_password"], "granted", "{m}");
        assert_eq!(m["write_pwd_last_set"], true, "{m}");
        assert_eq!(m["policy"], "domain", "{m}");
        assert_eq!(m["generated_length"], 24, "{m}");
    }
    let domain = &report["password_policies"]["domain"];
    assert_eq!(domain["min_length"], 7);
    assert_eq!(domain["complexity"], true);
    assert_eq!(domain["max_age_secs"], Value::Null);

    // The account without the delegation: the same report, with the missing right named.
    let noreset = config_file(dir.path(), &lab, "")
        .to_str()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .unwrap()
                .replace(&lab["KWLAB_AD1_BIND_DN"], &lab["KWLAB_AD1_NORESET_DN"]);
            std::fs::write(p, text).unwrap();
            std::path::PathBuf::from(p)
        })
        .unwrap();
    let noreset_pw = lab["KWLAB_AD1_NORESET_PASSWORD"].clone();
    let out = run(&noreset, &noreset_pw, &json);
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{report:#}");
    // It has no rights on CN=Deleted Objects either (lab/service-accounts.sh).
    assert_eq!(report["service_account"]["sees_deleted_users"], false);
    assert!(
        report["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .starts_with("the service account sees no deleted users")),
        "{report:#}"
    );
    assert!(
        problems[0]
            .as_str()
            .unwrap()
            .starts_with("Reset Password is missing on 2 of 2 sampled rotation-group members"),
        "{problems:?}"
    );
    assert!(
        report["sampled_members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["reset_password"] == "missing" && m["write_pwd_last_set"] == false)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 problem(s) found: Reset Password is missing"),
        "{stderr}"
    );
    let text = run(&noreset, &noreset_pw, &["directory", "test", "corp1"]);
    assert_eq!(text.status.code(), Some(8));
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains("PROBLEM:        Reset Password is missing")
            && text.contains("Reset Password missing, Write pwdLastSet no"),
        "{text}"
    );

    // A rotation group under a fine-grained policy of 30 characters.
    let fixture = keyward_test_support::lab_fixture(&lab, 1, "dirpso", &["pam"], Some(30));
    let pso = config_file(
        dir.path(),
        &lab,
        &format!("rotation_group = \"{}\"", fixture.group_dn),
    );
    let out = run(&pso, &password, &json);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let member = &report["sampled_members"][0];
    assert!(
        member["policy"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .starts_with("cn=kw-pso-dirpso,cn=password settings container"),
        "{member}"
    );
    assert_eq!(member["generated_length"], 30, "{member}");
    let psos = report["password_policies"]["fine_grained"]
        .as_array()
        .unwrap();
    assert!(psos.iter().any(|p| p["min_length"] == 30), "{psos:?}");
}
