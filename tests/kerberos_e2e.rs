//! The built `keyward` with Kerberos directories against the real Samba AD lab: `directory
//! test`, `config check --connect` and `sync` bind as svc-keyward with the lab's keytab, and no
//! bind password is configured anywhere (not in the file, not in the environment).

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};

use keyward_test_support::{TestDb, bin_path};
use serde_json::Value;

fn get<'a>(lab: &'a HashMap<String, String>, key: &str) -> &'a str {
    lab.get(key)
        .unwrap_or_else(|| panic!("lab.env lacks {key}; run lab/up.sh (it runs lab/kerberos.sh)"))
}

/// Both lab domains with Kerberos from the one keytab that holds svc-keyward of each realm;
/// CORP1 with a dead URL first (fail-over). `keytab` replaces the keytab when given.
fn config_file(
    dir: &Path,
    lab: &HashMap<String, String>,
    keytab: Option<&str>,
) -> std::path::PathBuf {
    let path = dir.join("keyward.toml");
    let keytab = keytab.unwrap_or_else(|| get(lab, "KWLAB_KEYTAB"));
    let mut text = String::new();
    for n in [1, 2] {
        let url = get(lab, &format!("KWLAB_AD{n}_LDAPS_URL"));
        let urls = if n == 1 {
            format!("[\"ldaps://127.0.0.9:1636\", \"{url}\"]")
        } else {
            format!("[\"{url}\"]")
        };
        write!(
            text,
            "[[directories]]\nname = \"corp{n}\"\nurls = {urls}\nca_file = \"{}\"\n\
             bind_dn = \"{}\"\nbind_method = \"kerberos\"\nkeytab_file = \"{keytab}\"\n\
             krb5_config = \"{}\"\nconnect_timeout_secs = 3\npriority = {}\n\n",
            get(lab, &format!("KWLAB_AD{n}_CA_CERT")),
            get(lab, &format!("KWLAB_AD{n}_BIND_UPN")),
            get(lab, "KWLAB_KRB5_CONFIG"),
            10 - n,
        )
        .unwrap();
    }
    std::fs::write(&path, &text).unwrap();
    assert!(!text.to_lowercase().contains("password"), "{text}");
    path
}

/// Runs `keyward` with a clean environment (no password variable, no Kerberos variable of the
/// caller) and `tmp` as its temporary directory, where its credential cache goes.
fn keyward(config: &Path, db: &str, tmp: &Path, args: &[&str]) -> Output {
    Command::new(bin_path("keyward"))
        .arg("--config")
        .arg(config)
        .args(["--database-url", db, "--output", "json"])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TMPDIR", tmp)
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

/// The credential cache directories left in `tmp`: none once `keyward` has ended.
fn ccache_dirs(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("keyward-krb5cc-"))
        .collect()
}

#[test]
fn directory_test_config_check_and_sync_bind_with_kerberos() {
    let Some(lab) = keyward_test_support::lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &lab, None);

    // directory test: failed over past the dead URL, bound with Kerberos, read both groups.
    let report = json_ok(&keyward(
        &config,
        "sqlite::memory:",
        tmp.path(),
        &["directory", "test", "corp1"],
    ));
    assert_eq!(report["url"], get(&lab, "KWLAB_AD1_LDAPS_URL"));
    assert_eq!(report["bound_as"], "svc-keyward@CORP1.TEST (Kerberos)");
    assert_eq!(report["groups"][0]["users"], 7);
    assert_eq!(report["groups"][1]["users"], 2);
    assert_eq!(
        ccache_dirs(tmp.path()),
        Vec::<String>::new(),
        "tickets removed at exit"
    );
    let report = json_ok(&keyward(
        &config,
        "sqlite::memory:",
        tmp.path(),
        &["directory", "test", "corp2"],
    ));
    assert_eq!(report["bound_as"], "svc-keyward@CORP2.TEST (Kerberos)");

    // config check --connect: both directories answer.
    let check = json_ok(&keyward(
        &config,
        "sqlite::memory:",
        tmp.path(),
        &["config", "check", "--connect"],
    ));
    assert_eq!(check["ok"], true, "{check}");
    let connections = check["connections"].to_string();
    assert!(
        connections.contains("svc-keyward@CORP1.TEST (Kerberos)")
            && connections.contains("svc-keyward@CORP2.TEST (Kerberos)"),
        "{connections}"
    );

    // sync: both domains read, alice merged across them.
    let db = TestDb::sqlite_file();
    keyward_test_support::cli_migrate(&db.url);
    let runs = json_ok(&keyward(&config, &db.url, tmp.path(), &["sync"]));
    for run in runs.as_array().unwrap() {
        assert_eq!(run["mode"], "full", "{run}");
        assert!(run["created"].as_u64().unwrap() > 0, "{run}");
    }
    let employees = json_ok(&keyward(
        &config,
        &db.url,
        tmp.path(),
        &["employees", "list"],
    ));
    let alice = employees
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["email"] == "alice@shared.example.com")
        .unwrap();
    assert_eq!(alice["accounts"].as_array().unwrap().len(), 2, "{alice}");
    assert_eq!(ccache_dirs(tmp.path()), Vec::<String>::new());
}

#[test]
fn a_keytab_without_the_account_is_refused_in_one_line() {
    let Some(lab) = keyward_test_support::lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // svc-keyward-noreset's keys for svc-keyward: the configuration is fine, the bind is not.
    let config = config_file(
        dir.path(),
        &lab,
        Some(get(&lab, "KWLAB_AD1_NORESET_KEYTAB")),
    );
    let out = keyward(
        &config,
        "sqlite::memory:",
        tmp.path(),
        &["directory", "test", "corp1"],
    );
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let failure: Value = serde_json::from_slice(&out.stderr).unwrap();
    let message = failure["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Kerberos bind as svc-keyward@CORP1.TEST failed")
            && message.contains("the keytab holds no key for this principal"),
        "{message}"
    );
    assert!(!message.contains('\n'));

    // Two keytabs in one configuration: refused before anything connects.
    let text = std::fs::read_to_string(&config).unwrap();
    let first = text.find("keytab_file").unwrap();
    let mixed = format!(
        "{}{}",
        &text[..first],
        text[first..].replacen(
            get(&lab, "KWLAB_AD1_NORESET_KEYTAB"),
            get(&lab, "KWLAB_AD1_KEYTAB"),
            1
        )
    );
    std::fs::write(&config, mixed).unwrap();
    let out = keyward(&config, "sqlite::memory:", tmp.path(), &["config", "check"]);
    assert_eq!(out.status.code(), Some(3));
    let check: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        check["problems"]
            .to_string()
            .contains("keytab_file differs"),
        "{check}"
    );
}
