//! Benchmark: streaming every user of the sync group from a real Samba AD domain, next to
//! `ldapsearch -E pr=1000/noprompt` for the same filter and attributes on the same server in the
//! same run, at 1,000 and 10,000 users; and the connector's peak memory at both sizes, measured
//! in a child process that does nothing but stream.
//!
//! Run: `cargo bench -p keyward-directory --bench stream_accounts` (needs root: it starts a
//! third lab domain, CORP3 on 127.0.0.4, and seeds it; seeding 10,000 users takes about a minute
//! the first time and is kept for later runs). Prints its figures; asserts nothing.

// A benchmark driver: failing loudly is what it should do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    clippy::cast_precision_loss
)]

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, pin_mut};
use keyward_directory::{
    DirectoryClient, DirectoryConfig, MembershipMethod, Read, Session, USER_ATTRIBUTES,
};
use keyward_password::SecretString;

const RUNS: usize = 3;
const PAGE: u32 = 1000;

fn config(env: &HashMap<String, String>, membership: MembershipMethod) -> DirectoryConfig {
    let mut c = DirectoryConfig::new(
        "corp3",
        vec![env["AD_LDAPS_URL"].clone()],
        &env["AD_BIND_DN"],
    );
    c.ca_file = Some(env["AD_CA_CERT"].clone().into());
    c.bind_password_env = Some("UNUSED".into());
    c.page_size = PAGE;
    c.membership = membership;
    c
}

/// Time to connect, bind and stream every user with the connector.
async fn stream(env: &HashMap<String, String>, membership: MembershipMethod) -> (Duration, usize) {
    let config = config(env, membership);
    let started = Instant::now();
    let client = DirectoryClient::new(
        config.clone(),
        SecretString::from(env["AD_BIND_PASSWORD"].clone()),
    )
    .unwrap();
    let mut session = client.connect().await.unwrap();
    let info = session.domain_info(&config).await.unwrap();
    let (_, scoping) = session
        .scoping(&config, &info, &config.sync_group)
        .await
        .unwrap();
    let users = session.users(Session::full_query(&info, scoping));
    pin_mut!(users);
    let mut count = 0;
    while let Some(item) = users.next().await {
        if let Read::User(_) = item.unwrap() {
            count += 1;
        }
    }
    (started.elapsed(), count)
}

fn best(mut runs: Vec<(Duration, usize)>) -> (Duration, usize) {
    runs.sort();
    runs[0]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--child") {
        // Child mode: stream once and report the peak resident memory of this process only.
        let env = keyward_test_support::read_env_file(
            &keyward_test_support::lab_dir().join("corp3/ad.env"),
        )
        .unwrap();
        let (_, count) = runtime.block_on(stream(&env, MembershipMethod::InChain));
        println!("{count} {}", keyward_test_support::peak_rss_kib());
        return;
    }
    let env = keyward_test_support::bench_domain(0);
    println!(
        "stream_accounts: Samba AD CORP3 at {}, page size {PAGE}, best of {RUNS}",
        env["AD_LDAPS_URL"]
    );
    println!(
        "{:>7} {:>12} {:>12} {:>7} {:>12} {:>14}",
        "users", "ldapsearch", "connector", "ratio", "walk", "peak RSS"
    );
    for total in [1_000usize, 10_000] {
        let seeding = Instant::now();
        keyward_test_support::bench_domain(total);
        eprintln!(
            "CORP3 holds {total} bulk users ({:.1} s to seed)",
            seeding.elapsed().as_secs_f64()
        );
        let raw = best(
            (0..RUNS)
                .map(|_| keyward_test_support::ldapsearch_sync_group(&env, USER_ATTRIBUTES))
                .collect(),
        );
        let ours = best(
            (0..RUNS)
                .map(|_| runtime.block_on(stream(&env, MembershipMethod::InChain)))
                .collect(),
        );
        let walk = best(
            (0..RUNS)
                .map(|_| runtime.block_on(stream(&env, MembershipMethod::Walk)))
                .collect(),
        );
        assert_eq!(
            raw.1, ours.1,
            "ldapsearch and the connector must see the same users"
        );
        assert_eq!(
            walk.1, ours.1,
            "the member walk (range retrieval) must find the same users"
        );
        let child = Command::new(std::env::current_exe().unwrap())
            .arg("--child")
            .output()
            .unwrap();
        let child = String::from_utf8_lossy(&child.stdout).into_owned();
        let peak_kib: u64 = child
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        println!(
            "{:>7} {:>10.3} s {:>10.3} s {:>7.2} {:>10.3} s {:>10.1} MiB",
            ours.1,
            raw.0.as_secs_f64(),
            ours.0.as_secs_f64(),
            ours.0.as_secs_f64() / raw.0.as_secs_f64(),
            walk.0.as_secs_f64(),
            peak_kib as f64 / 1024.0
        );
    }
}
