//! `keyward config check [--connect]` as built: a good file exits 0; every problem is one line
//! and the exit code is 3; a broken template file is named; `--connect` reaches the Samba AD lab
//! and the SMTP sink (the lab part only where the lab is).

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use keyward_test_support::{SmtpSink, bin_path};
use serde_json::Value;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `keyward --config FILE config check ARGS` in `dir`, with `envs` set.
fn check(dir: &Path, config: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(bin_path("keyward"))
        .current_dir(dir)
        .arg("--config")
        .arg(config)
        .args(["config", "check"])
        .args(args)
        .env_remove("KEYWARD_CONFIG")
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_good_file_exits_0_and_opens_no_database() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    write(
        &dir.path().join("templates"),
        "invitation.txt",
        "Hello {{ name }}: {{ link }} (until {{ expires }})\n",
    );
    write(dir.path(), "bind-password", "secret\n");
    let config = write(
        dir.path(),
        "keyward.toml",
        &format!(
            "database_url = \"sqlite://{db}\"\n\
             [mail]\nsmtp_host = \"mail.example.com\"\nfrom = \"keyward <keyward@example.com>\"\n\
             templates_dir = \"{templates}\"\n\
             [[directories]]\nname = \"corp1\"\nurls = [\"ldaps://dc1.corp1.example\"]\n\
             bind_dn = \"CN=svc\"\nbind_password_file = \"{password}\"\n\
             [[directories]]\nname = \"corp2\"\nurls = [\"ldaps://dc1.corp2.example\"]\n\
             bind_dn = \"CN=svc\"\nbind_password_env = \"KW_CONFIG_CLI_CORP2\"\n",
            db = dir.path().join("k.db").display(),
            templates = dir.path().join("templates").display(),
            password = dir.path().join("bind-password").display(),
        ),
    );
    let out = check(
        dir.path(),
        &config,
        &[],
        &[("KW_CONFIG_CLI_CORP2", "secret")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("configuration ok: "), "{stdout}");
    assert!(!dir.path().join("k.db").exists(), "no database is opened");

    let json = check(
        dir.path(),
        &config,
        &["--output", "json"],
        &[("KW_CONFIG_CLI_CORP2", "secret")],
    );
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["problems"], serde_json::json!([]));
}

#[test]
fn two_problems_are_two_lines_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "keyward.toml",
        "[keys]\nper_employee = 0\n\
         [[directories]]\nname = \"corp1\"\nurls = [\"ldaps://dc1.corp1.example\"]\n\
         bind_dn = \"CN=svc\"\nbind_password_env = \"KW_CONFIG_CLI_UNSET\"\n",
    );
    let out = check(dir.path(), &config, &[], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].contains("keys.per_employee"), "{stdout}");
    assert!(
        lines[1].contains("corp1") && lines[1].contains("KW_CONFIG_CLI_UNSET"),
        "{stdout}"
    );
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("2 problems"), "{stderr}");

    let json = check(dir.path(), &config, &["--output", "json"], &[]);
    assert_eq!(json.status.code(), Some(3));
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["problems"].as_array().unwrap().len(), 2, "{report}");
    let error: Value = serde_json::from_slice(&json.stderr).unwrap();
    assert_eq!(error["error"]["code"], "invalid_config");

    // A file that does not parse is its parse problem alone.
    let typo = write(dir.path(), "typo.toml", "lisen = \"127.0.0.1:1\"\n");
    let out = check(dir.path(), &typo, &[], &[]);
    assert_eq!(out.status.code(), Some(3));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.contains("lisen") && stdout.contains("typo.toml"),
        "{stdout}"
    );
}

#[test]
fn a_broken_template_override_is_reported_with_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    let broken = write(&templates, "key_assigned.html", "<p>{{ name }</p>\n");
    let unknown = write(&templates, "password_rotated.txt", "{{ acount }}\n");
    let config = write(
        dir.path(),
        "keyward.toml",
        &format!("[mail]\ntemplates_dir = \"{}\"\n", templates.display()),
    );
    let out = check(dir.path(), &config, &[], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains(&broken.display().to_string())
                && l.contains("line 1")
                && l.contains("syntax error")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains(&unknown.display().to_string())
                && l.contains("unknown placeholder `acount`")),
        "{stdout}"
    );
}

#[test]
fn connect_reports_an_smtp_server_that_answers_and_one_that_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(&dir.path().join("inbox"));
    let mail = |port: u16| {
        format!(
            "[mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsecurity = \"none\"\n\
             from = \"keyward <keyward@example.com>\"\n"
        )
    };
    let up = write(dir.path(), "up.toml", &mail(sink.port));
    let out = check(dir.path(), &up, &["--connect"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!(
            "SMTP server 127.0.0.1:{}: ok: connected",
            sink.port
        )),
        "{stdout}"
    );
    assert!(sink.messages().is_empty(), "nothing is sent");

    let port = keyward_test_support::free_port();
    let down = write(dir.path(), "down.toml", &mail(port));
    let out = check(dir.path(), &down, &["--connect"], &[]);
    assert_eq!(out.status.code(), Some(3));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with(&format!("SMTP server 127.0.0.1:{port}: ")),
        "{stdout}"
    );
    // Without --connect the same file has no problem: nothing is contacted.
    assert_eq!(check(dir.path(), &down, &[], &[]).status.code(), Some(0));
}

#[test]
fn connect_tests_every_directory_of_the_lab() {
    let Some(lab) = keyward_test_support::lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut toml = String::new();
    for n in [1, 2] {
        write!(
            toml,
            "[[directories]]\nname = \"corp{n}\"\nurls = [\"{}\"]\nca_file = \"{}\"\n\
             bind_dn = \"{}\"\nbind_password_env = \"KW_CONFIG_CLI_CORP{n}\"\n",
            lab[&format!("KWLAB_AD{n}_LDAPS_URL")],
            lab[&format!("KWLAB_AD{n}_CA_CERT")],
            lab[&format!("KWLAB_AD{n}_BIND_DN")],
        )
        .unwrap();
    }
    let good = write(dir.path(), "lab.toml", &toml);
    let pw1 = lab["KWLAB_AD1_BIND_PASSWORD"].clone();
    let pw2 = lab["KWLAB_AD2_BIND_PASSWORD"].clone();
    let envs = [
        ("KW_CONFIG_CLI_CORP1", pw1.as_str()),
        ("KW_CONFIG_CLI_CORP2", pw2.as_str()),
    ];
    let out = check(dir.path(), &good, &["--connect"], &envs);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for n in [1, 2] {
        assert!(
            stdout.contains(&format!("directory corp{n}: ok: ")),
            "{stdout}"
        );
    }
    assert!(!stdout.contains(&pw1) && !stdout.contains(&pw2));

    // A wrong bind password for one directory is one problem naming it.
    let wrong = [
        ("KW_CONFIG_CLI_CORP1", pw1.as_str()),
        ("KW_CONFIG_CLI_CORP2", "not-the-password"),
    ];
    let out = check(dir.path(), &good, &["--connect"], &wrong);
    assert_eq!(out.status.code(), Some(3));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("directory corp2: "), "{stdout}");
    assert!(!stdout.contains("not-the-password"), "{stdout}");
}
