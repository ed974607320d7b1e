//! How fast the console's pages answer with many employees: a SQLite file with
//! `KEYWARD_BENCH_EMPLOYEES` employees (default 10,000; one in ten holds a key, one in two has a
//! directory account), a signed-in session, and each page asked `KEYWARD_BENCH_REPS` times
//! (default 20) through the router. Prints the median and the slowest answer per page.
//!
//! `cargo bench -p keyward-server --bench console_pages`

// A benchmark binary: a panic is a failed run with its location.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::too_many_lines,
    missing_docs
)]

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use chrono::Utc;
use keyward_model::{
    DirectoryAccount, DirectoryName, DisplayName, Email, NewAuditRecord, NewEmployee,
};
use keyward_service::{Actor, Keyward, OpenMode, Settings};
use keyward_store::{NewAdminSession, Store};
use tower::ServiceExt as _;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn audit(action: &str) -> NewAuditRecord {
    NewAuditRecord {
        actor: "bench".into(),
        action: action.into(),
        subject: "bench".into(),
        detail: serde_json::json!({}),
        at: Utc::now(),
    }
}

#[tokio::main]
async fn main() {
    let employees = env_number("KEYWARD_BENCH_EMPLOYEES", 10_000);
    let reps = env_number("KEYWARD_BENCH_REPS", 20);
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let settings = Settings {
        database_url: url.clone(),
        ..Settings::default()
    };
    let keyward = Keyward::open_with(&settings, OpenMode::CreateIfEmpty)
        .await
        .unwrap();
    let store = Store::connect(&url).await.unwrap();
    let started = Instant::now();
    let corp1 = DirectoryName::parse("corp1").unwrap();
    let mut first = None;
    let mut key_serials = Vec::new();
    for i in 0..employees {
        let email = format!("user{i:06}@corp.example");
        let employee = store
            .create_employee(
                &NewEmployee {
                    email: Email::parse(&email).unwrap(),
                    display_name: DisplayName::parse(&format!("User {i:06}")).unwrap(),
                },
                Utc::now(),
                &audit("employee.created"),
            )
            .await
            .unwrap();
        if i % 2 == 0 {
            store
                .upsert_account(&DirectoryAccount {
                    directory: corp1.clone(),
                    object_guid: uuid::Uuid::new_v4(),
                    employee_id: employee.id,
                    dn: format!("CN=user{i:06},OU=Bench,DC=corp1,DC=test"),
                    sam_account_name: Some(format!("user{i:06}")),
                    user_principal_name: None,
                    mail: employee.email.clone(),
                    display_name: None,
                    enabled: true,
                    in_rotation_group: false,
                    usn_changed: 1,
                    last_seen_at: Utc::now(),
                    missing_since: None,
                })
                .await
                .unwrap();
        }
        if i % 10 == 0 {
            key_serials.push((format!("BK-{i:06}"), email));
        }
        first.get_or_insert(employee.id);
    }
    let serials: Vec<String> = key_serials.iter().map(|(s, _)| s.clone()).collect();
    keyward.keys().import(&serials, &Actor::Cli).await.unwrap();
    for (serial, email) in &key_serials {
        keyward
            .keys()
            .assign(serial, email, &Actor::Cli)
            .await
            .unwrap();
    }
    let seeded = started.elapsed();
    let (admin, _) = keyward
        .admins()
        .create("bench@corp.example", "Bench", &Actor::Cli)
        .await
        .unwrap();
    let secret = "bench-session-secret";
    store
        .create_admin_session(
            &NewAdminSession {
                id_hash: &keyward_password_sha256(secret),
                admin_id: admin.id,
                csrf_token: "csrf",
                created_at: Utc::now(),
                expires_at: Utc::now() + chrono::Duration::hours(1),
            },
            &audit("admin.signed_in"),
        )
        .await
        .unwrap();
    let app = keyward_server::app(keyward);
    let employee = first.unwrap();
    let pages = [
        ("dashboard", "/console/".to_owned()),
        ("employees, first page", "/console/employees".to_owned()),
        (
            "employees, search",
            "/console/employees?q=user00999".to_owned(),
        ),
        (
            "employees, corp1 with a key",
            "/console/employees?directory=corp1&key=yes".to_owned(),
        ),
        ("one employee", format!("/console/employees/{employee}")),
        ("keys", "/console/keys".to_owned()),
        ("audit, first page", "/console/audit".to_owned()),
    ];
    println!(
        "console pages: {employees} employees, {} keys (seeded in {:.1} s), {reps} requests each",
        key_serials.len(),
        seeded.as_secs_f64()
    );
    for (name, uri) in pages {
        let mut times: Vec<Duration> = Vec::new();
        for _ in 0..reps {
            let request = Request::get(&uri)
                .header("cookie", format!("keyward_session={secret}"))
                .body(Body::empty())
                .unwrap();
            let t = Instant::now();
            let response = app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let _ = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            times.push(t.elapsed());
            assert!(status.is_success(), "{uri}: {status}");
        }
        times.sort();
        println!(
            "  {name:<30} median {:>8.1} ms   slowest {:>8.1} ms",
            times[times.len() / 2].as_secs_f64() * 1000.0,
            times[times.len() - 1].as_secs_f64() * 1000.0
        );
    }
}

fn keyward_password_sha256(secret: &str) -> String {
    use std::fmt::Write as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    digest.as_ref().iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
