//! The layering rules of docs/conventions.md, checked against `cargo metadata`.
//!
//! Edges point downward only. A dependency on a crate not in the table (a new crate) fails
//! until the table says where it belongs.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::BTreeMap;
use std::process::Command;

/// Internal crates each crate may depend on (normal and build dependencies).
fn allowed() -> BTreeMap<&'static str, &'static [&'static str]> {
    const PURE: &[&str] = &["keyward-model"];
    const IO: &[&str] = &[
        "keyward-model",
        "keyward-identity",
        "keyward-keys",
        "keyward-password",
        "keyward-rotation",
    ];
    const SERVICE: &[&str] = &[
        "keyward-model",
        "keyward-identity",
        "keyward-keys",
        "keyward-password",
        "keyward-rotation",
        "keyward-directory",
        "keyward-store",
    ];
    // The admin API's wire types: made from the service's types, used by both binaries.
    const API: &[&str] = &["keyward-service", "keyward-model"];
    const BINARY: &[&str] = &[
        "keyward-api",
        "keyward-service",
        "keyward-model",
        "keyward-identity",
        "keyward-keys",
        "keyward-password",
        "keyward-rotation",
    ];
    BTreeMap::from([
        ("keyward-model", &[] as &[&str]),
        ("keyward-identity", PURE),
        ("keyward-keys", PURE),
        ("keyward-password", PURE),
        ("keyward-rotation", PURE),
        ("keyward-directory", IO),
        ("keyward-store", IO),
        ("keyward-service", SERVICE),
        ("keyward-api", API),
        ("keyward-server", BINARY),
        ("keyward-cli", BINARY),
        // The simulated agent speaks HTTP/JSON to the server; at most the vocabulary.
        ("keyward-agent-sim", PURE),
    ])
}

/// External crates that pure crates and binaries must not use directly.
const IO_CRATES: &[&str] = &[
    "tokio",
    "ldap3",
    "sea-orm",
    "sea-orm-migration",
    "axum",
    "sqlx",
];
const BINARY_FORBIDDEN: &[&str] = &["ldap3", "sea-orm", "sea-orm-migration", "sqlx"];

fn violations(metadata: &serde_json::Value) -> (usize, Vec<String>) {
    let rules = allowed();
    let mut violations = Vec::new();
    let mut checked = 0;
    for package in metadata["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        if matches!(name, "keyward-test-support" | "keyward-e2e") {
            continue;
        }
        let Some(allowed_internal) = rules.get(name) else {
            violations.push(format!(
                "{name} is not in the layering table of tests/layering.rs"
            ));
            continue;
        };
        checked += 1;
        let pure = matches!(
            name,
            "keyward-model"
                | "keyward-identity"
                | "keyward-keys"
                | "keyward-password"
                | "keyward-rotation"
        );
        let binary = matches!(
            name,
            "keyward-server" | "keyward-cli" | "keyward-agent-sim" | "keyward-api"
        );
        for dep in package["dependencies"].as_array().unwrap() {
            if dep["kind"].as_str() == Some("dev") {
                continue;
            }
            let dep_name = dep["name"].as_str().unwrap();
            if dep_name.starts_with("keyward-") && !allowed_internal.contains(&dep_name) {
                violations.push(format!("{name} -> {dep_name} is not allowed"));
            }
            if pure && IO_CRATES.contains(&dep_name) {
                violations.push(format!("pure crate {name} must not use {dep_name}"));
            }
            if binary && BINARY_FORBIDDEN.contains(&dep_name) {
                violations.push(format!("binary {name} must not name {dep_name}"));
            }
        }
    }
    (checked, violations)
}

#[test]
fn crates_depend_only_downward() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
            manifest,
        ])
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (checked, violations) = violations(&metadata);
    assert!(
        checked >= 6,
        "expected the workspace's crates, checked {checked}"
    );
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

/// The checker itself catches each kind of forbidden edge.
#[test]
fn the_checker_catches_forbidden_edges() {
    let dep = |name: &str| serde_json::json!({ "name": name, "kind": null });
    let metadata = serde_json::json!({ "packages": [
        { "name": "keyward-store", "dependencies": [dep("keyward-service")] },
        { "name": "keyward-keys", "dependencies": [dep("keyward-password"), dep("tokio")] },
        { "name": "keyward-rotation", "dependencies": [dep("keyward-store"), dep("sea-orm")] },
        { "name": "keyward-cli", "dependencies": [dep("sea-orm"), dep("keyward-service")] },
        { "name": "keyward-brand-new", "dependencies": [] },
        { "name": "keyward-model", "dependencies": [{ "name": "keyward-store", "kind": "dev" }] },
    ]});
    let (_, found) = violations(&metadata);
    assert_eq!(
        found,
        [
            "keyward-store -> keyward-service is not allowed",
            "keyward-keys -> keyward-password is not allowed",
            "pure crate keyward-keys must not use tokio",
            "keyward-rotation -> keyward-store is not allowed",
            "pure crate keyward-rotation must not use sea-orm",
            "binary keyward-cli must not name sea-orm",
            "keyward-brand-new is not in the layering table of tests/layering.rs",
        ]
    );
}
