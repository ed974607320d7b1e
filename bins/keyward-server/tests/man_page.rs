//! The hidden `keyward-server --man-page DIR` of the Debian package: it writes the page and
//! exits, before any settings are read (the configuration given here does not exist), and the
//! page documents the real flags.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn the_man_page_documents_the_flags_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man");
    let out = Command::new(env!("CARGO_BIN_EXE_keyward-server"))
        .arg("--man-page")
        .arg(&pages)
        .current_dir(dir.path())
        .env("KEYWARD_CONFIG", dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["keyward-server.1"]);
    let page = std::fs::read_to_string(pages.join("keyward-server.1")).unwrap();
    assert!(page.contains(".TH keyward-server 1"), "{page}");
    for flag in [
        r"\-\-config",
        r"\-\-listen",
        r"\-\-database\-url",
        r"\-\-log\-format",
    ] {
        assert!(page.contains(&format!(r"\fB{flag}\fR")), "{flag} in {page}");
    }
    assert!(page.contains("KEYWARD_CONFIG"), "{page}");
    assert!(!page.contains("man\\-page"), "the hidden flag stays hidden");
    assert!(
        !dir.path().join("keyward.db").exists(),
        "no database is opened"
    );
}
