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
