//! The hidden `keyward-agent-sim man-pages DIR` of the Debian package: it reads no state file
//! and calls no server, and writes a page per command that names its flags.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn a_page_per_command_without_a_state_file_or_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man");
    let state = dir.path().join("state.json");
    let out = Command::new(env!("CARGO_BIN_EXE_keyward-agent-sim"))
        .args(["--server", "http://127.0.0.1:9", "--state-file"])
        .arg(&state)
        .arg("man-pages")
        .arg(&pages)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!state.exists(), "the state file is not touched");
    for name in [
        "keyward-agent-sim.1",
        "keyward-agent-sim-register.1",
        "keyward-agent-sim-sync.1",
    ] {
        assert!(pages.join(name).exists(), "{name}");
    }
    assert!(!pages.join("keyward-agent-sim-man-pages.1").exists());
    let sync = std::fs::read_to_string(pages.join("keyward-agent-sim-sync.1")).unwrap();
    assert!(sync.contains(r"\fB\-\-no\-ack\fR"), "{sync}");
    assert!(sync.contains("KEYWARD_AGENT_SERVER"), "{sync}");
}
