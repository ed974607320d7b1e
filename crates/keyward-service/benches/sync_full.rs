//! Benchmark: a full sync of the 10,000 bulk users of the CORP3 lab domain into SQLite and into
//! PostgreSQL, next to `ldapsearch -E pr=1000/noprompt` for the same read in the same run; an
//! incremental run with nothing changed; an incremental run after 1% of the users changed; and
//! the peak memory of a process that does one full sync. Each figure is the median of
//! `KEYWARD_BENCH_REPS` runs (3 by default), each full run into a fresh database.
//!
//! Run after the directory benchmark has seeded CORP3 (it starts and seeds it if needed):
//! `cargo bench -p keyward-service --bench sync_full`. Prints figures; asserts only that the
//! runs saw what they should. `KEYWARD_TEST_BENCH_USERS=50000` measures 50,000 users instead
//! (seeding the missing ones takes about ten minutes; CORP3 keeps them, so a later 10,000 run
//! needs `lab/stop-ad.sh /tmp/keyward-lab/corp3 --purge` first).

// A benchmark driver: failing loudly is what it should do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::format_push_string,
    clippy::too_many_lines
)]

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keyward_directory::DirectoryConfig;
use keyward_service::{Actor, Keyward, OpenMode, Settings, SyncOptions, SyncReport};
use keyward_test_support::TestDb;

/// The number of bulk users: `KEYWARD_TEST_BENCH_USERS`, 10,000 by default.
fn users() -> usize {
    std::env::var("KEYWARD_TEST_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn settings(env: &HashMap<String, String>, database_url: &str, secret: &Path) -> Settings {
    let mut d = DirectoryConfig::new(
        "corp3",
        vec![env["AD_LDAPS_URL"].clone()],
        &env["AD_BIND_DN"],
    );
    d.ca_file = Some(env["AD_CA_CERT"].clone().into());
    d.bind_password_file = Some(secret.to_path_buf());
    d.page_size = 1000;
    let mut s = Settings {
        database_url: database_url.to_owned(),
        directories: vec![d],
        ..Settings::default()
    };
    s.sync.max_removals = u32::MAX;
    s
}

/// Runs per figure: `KEYWARD_BENCH_REPS`, 3 by default; the table shows medians.
fn reps() -> usize {
    std::env::var("KEYWARD_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3)
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

async fn timed_run(keyward: &Keyward, full: bool) -> (Duration, SyncReport) {
    let options = SyncOptions {
        full,
        ..SyncOptions::default()
    };
    let started = Instant::now();
    let report = keyward
        .sync()
        .run("corp3", &options, &Actor::System, &|_| {})
        .await
        .unwrap();
    (started.elapsed(), report)
}

/// Changes the title of `count` bulk users (1% of them), through ldapmodify.
fn change_some(env: &HashMap<String, String>, count: usize, round: u32) {
    let users = users();
    let mut ldif = String::new();
    for i in 1..=count {
        let dn = format!(
            "CN=u{:06},OU=KeywardLab,{}",
            i * (users / count),
            env["AD_BASE_DN"]
        );
        ldif.push_str(&format!("dn: {dn}\nchangetype: modify\nreplace: displayName\ndisplayName: Bench Round {round} User {i}\n\n"));
    }
    let mut child = Command::new("ldapmodify")
        .env("LDAPTLS_CACERT", &env["AD_CA_CERT"])
        .args([
            "-x",
            "-H",
            &env["AD_LDAPS_URL"],
            "-D",
            &env["AD_BIND_DN"],
            "-w",
            &env["AD_BIND_PASSWORD"],
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ldif.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        // One full sync into a fresh SQLite file; print the peak memory of this process.
        let env = keyward_test_support::read_env_file(
            &keyward_test_support::lab_dir().join("corp3/ad.env"),
        )
        .unwrap();
        let secret = PathBuf::from(&args[i + 1]);
        let url = format!("sqlite://{}/child.db?mode=rwc", dir.path().display());
        let (_, report) = runtime.block_on(async {
            let keyward =
                Keyward::open_with(&settings(&env, &url, &secret), OpenMode::CreateIfEmpty)
                    .await
                    .unwrap();
            timed_run(&keyward, true).await
        });
        println!("{} {}", report.read, keyward_test_support::peak_rss_kib());
        return;
    }
    let users = users();
    let reps = reps();
    let env = keyward_test_support::bench_domain(users);
    let secret = dir.path().join("bind-password");
    std::fs::write(&secret, format!("{}\n", env["AD_BIND_PASSWORD"])).unwrap();
    let raw = median(
        (0..reps)
            .map(|_| {
                keyward_test_support::ldapsearch_sync_group(
                    &env,
                    keyward_directory::USER_ATTRIBUTES,
                )
                .0
            })
            .collect(),
    );
    println!(
        "sync_full: {users} users in CORP3 ({}), medians of {reps} runs; ldapsearch -E pr=1000: {:.3} s",
        env["AD_LDAPS_URL"],
        raw.as_secs_f64()
    );
    println!(
        "{:<12} {:>10} {:>7} {:>16} {:>8} {:>18}",
        "backend", "full", "ratio", "incr. unchanged", "% full", "incr. 1% changed"
    );
    let mut round = 0;
    for backend in ["sqlite-file", "postgres"] {
        let mut fulls = Vec::new();
        let mut quiets = Vec::new();
        let mut phases = Vec::new();
        let mut changed = Duration::ZERO;
        for rep in 0..reps {
            // Each full run into a fresh database: the first run of a directory.
            let db = if backend == "postgres" {
                runtime
                    .block_on(TestDb::postgres())
                    .expect("PostgreSQL for the benchmark")
            } else {
                TestDb::sqlite_file()
            };
            runtime.block_on(async {
                let keyward =
                    Keyward::open_with(&settings(&env, &db.url, &secret), OpenMode::CreateIfEmpty)
                        .await
                        .unwrap();
                let (full, report) = timed_run(&keyward, true).await;
                assert_eq!(
                    report.read as usize, users,
                    "the full run reads every bulk user"
                );
                fulls.push(full);
                phases.push(report.phases_ms);
                let (quiet, report) = timed_run(&keyward, false).await;
                assert_eq!(report.mode, keyward_service::RunMode::Incremental);
                assert_eq!(report.updated + report.created + report.missing, 0);
                quiets.push(quiet);
                if rep + 1 == reps {
                    round += 1;
                    change_some(&env, users / 100, round);
                    let (took, report) = timed_run(&keyward, false).await;
                    assert_eq!(report.updated as usize, users / 100, "{report:?}");
                    changed = took;
                }
            });
        }
        let (full, quiet) = (median(fulls), median(quiets));
        println!(
            "{:<12} {:>8.3} s {:>7.2} {:>14.3} s {:>7.1}% {:>16.3} s",
            backend,
            full.as_secs_f64(),
            full.as_secs_f64() / raw.as_secs_f64(),
            quiet.as_secs_f64(),
            100.0 * quiet.as_secs_f64() / full.as_secs_f64(),
            changed.as_secs_f64()
        );
        let phase = |f: fn(&keyward_service::Phases) -> u64| {
            median(phases.iter().map(|p| Duration::from_millis(f(p))).collect()).as_millis()
        };
        println!(
            "{:<12} full run phases: read {} ms, plan {} ms, write {} ms",
            "",
            phase(|p| p.read),
            phase(|p| p.plan),
            phase(|p| p.write)
        );
    }
    let child = Command::new(std::env::current_exe().unwrap())
        .arg("--child")
        .arg(&secret)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&child.stdout).into_owned();
    let mut parts = text.split_whitespace();
    let read = parts.next().unwrap_or("?");
    let kib: f64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    println!(
        "peak memory of a process doing one full sync of {read} users into SQLite: {:.1} MiB",
        kib / 1024.0
    );
}
