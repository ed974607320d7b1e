//! `keyward completions` and the hidden `keyward man-pages`, run as the built binary: they need
//! no configuration, database or server (all three given here point nowhere and must stay
//! untouched), and what they write works: bash completes with the script, the pages name the
//! commands and their flags.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

/// `keyward ARGS` in `dir`, with a configuration file that does not exist, a database URL in
/// `dir` and a server that does not answer, so that reading any of them fails or shows.
fn keyward(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .current_dir(dir)
        .env("KEYWARD_CONFIG", dir.join("missing.toml"))
        .env("KEYWARD_DATABASE_URL", database_url(dir))
        .env("KEYWARD_SERVER", "https://127.0.0.1:9")
        .output()
        .unwrap()
}

fn database_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("kw.db").display())
}

/// Asserts success, and that no database was created on the way; the script or listing.
fn stdout_of(dir: &Path, out: &Output) -> String {
    assert!(
        out.status.success(),
        "keyward failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.join("kw.db").exists(), "no database is opened");
    assert!(!dir.join("keyward.db").exists(), "no database is opened");
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn bash_completes_commands_and_flags_with_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let script = stdout_of(dir.path(), &keyward(dir.path(), &["completions", "bash"]));
    assert!(script.contains("_keyward()"), "{script}");
    let file = dir.path().join("keyward.bash");
    std::fs::write(&file, &script).unwrap();
    // Loaded by bash, then asked what follows `keyward emp` and `keyward keys assign --emp`,
    // as bash does on TAB.
    let completed = Command::new("bash")
        .arg("-c")
        .arg(
            r#"set -e; source "$1"; complete -p keyward
            COMP_WORDS=(keyward emp); COMP_CWORD=1; _keyward keyward emp keyward
            echo "words: ${COMPREPLY[*]}"
            COMP_WORDS=(keyward keys assign --emp); COMP_CWORD=3; _keyward keyward --emp assign
            echo "flags: ${COMPREPLY[*]}""#,
        )
        .arg("bash")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&completed.stdout);
    assert!(
        completed.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&completed.stderr)
    );
    assert!(text.contains("-F _keyward keyward"), "{text}");
    assert!(text.contains("words: employees"), "{text}");
    assert!(text.contains("flags: --employee"), "{text}");
}

#[test]
fn zsh_and_fish_scripts_name_the_commands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let zsh = stdout_of(dir.path(), &keyward(dir.path(), &["completions", "zsh"]));
    assert!(zsh.starts_with("#compdef keyward"), "{zsh}");
    assert!(zsh.contains("_keyward()"), "{zsh}");
    assert!(zsh.contains("'--database-url=[") && zsh.contains("employees"));
    let fish = stdout_of(dir.path(), &keyward(dir.path(), &["completions", "fish"]));
    assert!(fish.contains("complete -c keyward"), "{fish}");
    assert!(fish.contains("-l database-url") && fish.contains("-a \"employees\""));
    // The hidden packaging command is not offered.
    assert!(!fish.contains("man-pages") && !zsh.contains("man-pages"));
    let bash = stdout_of(dir.path(), &keyward(dir.path(), &["completions", "bash"]));
    assert!(!bash.contains("man-pages"));
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyward(dir.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_pages_are_one_per_command_and_name_their_flags() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man");
    let listed = stdout_of(
        dir.path(),
        &keyward(
            dir.path(),
            &["--output", "json", "man-pages", pages.to_str().unwrap()],
        ),
    );
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let listed = listed["pages"].as_array().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(listed.len(), names.len(), "every page written is listed");
    for page in [
        "keyward.1",
        "keyward-completions.1",
        "keyward-employees.1",
        "keyward-employees-list.1",
        "keyward-keys-assign.1",
        "keyward-migrate.1",
        "keyward-sync-runs.1",
    ] {
        assert!(names.iter().any(|n| n == page), "{page} in {names:?}");
    }
    // Neither the hidden command nor clap's `help` has a page.
    assert!(
        !names
            .iter()
            .any(|n| n.contains("man-pages") || n.contains("help"))
    );

    let read = |name: &str| std::fs::read_to_string(pages.join(name)).unwrap();
    let top = read("keyward.1");
    assert!(top.contains(".TH keyward 1"), "{top}");
    assert!(top.contains(r"\fB\-\-database\-url\fR"), "{top}");
    assert!(top.contains(r"keyward\-employees(1)"), "{top}");
    assert!(
        top.contains("KEYWARD_CONFIG"),
        "environment variables are named"
    );
    let assign = read("keyward-keys-assign.1");
    assert!(assign.contains(".TH keyward-keys-assign 1"), "{assign}");
    assert!(assign.contains(r"\fB\-\-employee\fR"), "{assign}");
    assert!(assign.contains("activation code"), "{assign}");
    assert!(assign.contains(concat!("keyward ", env!("CARGO_PKG_VERSION"))));
}
