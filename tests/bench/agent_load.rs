//! Load benchmark of the agent API and the admin listing routes (issue 15, item 4).
//!
//! For SQLite (a file) and PostgreSQL (when `KEYWARD_TEST_POSTGRES_URL` or the default local
//! server answers): seeds `LOAD_WORKSTATIONS` approved workstations, each holding one Active key
//! of its own employee, starts the built release `keyward-server` on that database, and drives
//! it with `wrk` (Debian's package):
//! - `GET /api/v1/agent/keys/{serial}/pending`, every request with another workstation's
//!   credential and key (a Lua script cycles through all of them), as a fleet of agents polling;
//! - `GET /api/v1/employees`, `/api/v1/keys` and `/api/v1/workstations` with `limit=100`, with
//!   an admin token, as consoles and scripts listing.
//!
//! It prints one table row per backend and route: requests per second, p50 and p99 latency,
//! answers that were not 2xx, and the server's resident memory after the run and at its peak.
//! Run it with `scripts/load-bench.sh` (builds the release server, installs wrk). Knobs:
//! `LOAD_WORKSTATIONS` (2000), `LOAD_SECONDS` per route (15), `LOAD_CONNECTIONS` (64),
//! `LOAD_THREADS` (2). The load generator runs on the same machine as the server and shares its
//! cores: the figures are a floor for a server with the machine to itself.

// A benchmark program: a panic is a failed run with its location.
#![allow(clippy::unwrap_used, clippy::too_many_lines, clippy::print_stdout)]

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use keyward_service::{Actor, Keyward, OpenMode, Settings};
use keyward_test_support::TestDb;

#[path = "../support/server.rs"]
mod server;
use server::Server;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One workstation's credential and the serial of the key it holds.
struct Agent {
    serial: String,
    credential: String,
}

/// Seeds `count` workstations, each holding an Active key; returns them and an admin token.
async fn seed(settings: &Settings, count: usize) -> (Vec<Agent>, String) {
    let k = Keyward::open_with(settings, OpenMode::CreateIfEmpty)
        .await
        .unwrap();
    let serials: Vec<String> = (0..count).map(|i| format!("LOAD-{i:06}")).collect();
    for chunk in serials.chunks(500) {
        k.keys().import(chunk, &Actor::Cli).await.unwrap();
    }
    let mut agents = Vec::with_capacity(count);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, serial) in serials.into_iter().enumerate() {
        let k = k.clone();
        tasks.spawn(async move {
            let email = format!("load{i:06}@example.com");
            k.employees()
                .create(&email, &format!("Load Tester {i}"), &Actor::Cli)
                .await
                .unwrap();
            let (ws, credential) = k.agent().register(&format!("WS-{i:06}")).await.unwrap();
            let ws = k
                .agent()
                .approve(&ws.id.to_string(), &Actor::Cli)
                .await
                .unwrap();
            let code = k.keys().assign(&serial, &email, &Actor::Cli).await.unwrap();
            k.agent()
                .activate(&ws, &serial, code.activation_code.expose())
                .await
                .unwrap();
            Agent {
                serial,
                credential: credential.expose().to_owned(),
            }
        });
        // A few at a time: activation codes are PBKDF2-hashed, which is what seeding waits on.
        while tasks.len() >= 8 {
            agents.push(tasks.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(agent) = tasks.join_next().await {
        agents.push(agent.unwrap());
    }
    let scopes = keyward_model::Scopes::parse_list("read").unwrap();
    let (_, token) = k
        .tokens()
        .create("load-bench", &scopes, None, &Actor::Cli)
        .await
        .unwrap();
    k.close().await.unwrap();
    (agents, token.expose().to_owned())
}

/// A wrk script that sends each request with the next agent's credential and key.
fn pending_script(agents: &[Agent], path: &Path) {
    let mut lua = String::from("local agents = {\n");
    for agent in agents {
        writeln!(lua, "  {{\"{}\", \"{}\"}},", agent.serial, agent.credential).unwrap();
    }
    lua.push_str(
        "}\nlocal i = math.random(#agents)\n\
         request = function()\n  i = i % #agents + 1\n  local a = agents[i]\n  \
         return wrk.format(\"GET\", \"/api/v1/agent/keys/\" .. a[1] .. \"/pending\", \
         {[\"Authorization\"] = \"Bearer \" .. a[2]})\nend\n",
    );
    std::fs::write(path, lua).unwrap();
}

/// What wrk measured.
struct Measured {
    requests_per_sec: f64,
    p50: String,
    p99: String,
    not_2xx: u64,
    total: u64,
}

fn wrk(url: &str, script: Option<&Path>, header: Option<&str>) -> Measured {
    let mut command = Command::new("wrk");
    command.args([
        "-t",
        &knob("LOAD_THREADS", 2).to_string(),
        "-c",
        &knob("LOAD_CONNECTIONS", 64).to_string(),
        "-d",
        &format!("{}s", knob("LOAD_SECONDS", 15)),
        "--latency",
    ]);
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    if let Some(header) = header {
        command.args(["-H", header]);
    }
    let out = command
        .arg(url)
        .output()
        .expect("run wrk (apt install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |prefix: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix).map(|rest| rest.trim().to_owned()))
    };
    let total = text
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in ")
                .map(|(n, _)| n.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    Measured {
        requests_per_sec: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        p50: field("50%").unwrap_or_default(),
        p99: field("99%").unwrap_or_default(),
        not_2xx: field("Non-2xx or 3xx responses:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        total,
    }
}

/// The server's resident memory now and at its peak, in MiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0)
    };
    (kib("VmRSS:") / 1024, kib("VmHWM:") / 1024)
}

#[tokio::main]
async fn main() {
    let count = usize::try_from(knob("LOAD_WORKSTATIONS", 2000)).unwrap();
    let mut dbs = vec![TestDb::sqlite_file()];
    dbs.extend(TestDb::postgres().await);
    let mut table = vec![format!(
        "| backend | route | req/s | p50 | p99 | not 2xx / total | server RSS after / peak (MiB) |\n|---|---|---|---|---|---|---|"
    )];
    for db in &dbs {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("kek");
        keyward_service::write_new_key_file(&key_file).unwrap();
        let mut settings = Settings {
            database_url: db.url.clone(),
            ..Settings::default()
        };
        settings.secrets.key_file = Some(key_file.clone());
        let started = std::time::Instant::now();
        let (agents, token) = seed(&settings, count).await;
        eprintln!(
            "{}: seeded {count} workstations with Active keys in {:.1} s",
            db.label,
            started.elapsed().as_secs_f64()
        );
        let script = dir.path().join("pending.lua");
        pending_script(&agents, &script);
        let key_env = key_file.display().to_string();
        let server =
            Server::start_with_env(&db.url, &[("KEYWARD_SECRETS__KEY_FILE", key_env.as_str())]);
        let pid = server.child.id();
        let auth = format!("Authorization: Bearer {token}");
        let routes: [(&str, String, Option<&Path>, Option<&str>); 4] = [
            (
                "agent pending (each request another workstation)",
                format!("{}/", server.base),
                Some(&script),
                None,
            ),
            (
                "GET /api/v1/employees?limit=100",
                format!("{}/api/v1/employees?limit=100", server.base),
                None,
                Some(&auth),
            ),
            (
                "GET /api/v1/keys?limit=100",
                format!("{}/api/v1/keys?limit=100", server.base),
                None,
                Some(&auth),
            ),
            (
                "GET /api/v1/workstations?limit=100",
                format!("{}/api/v1/workstations?limit=100", server.base),
                None,
                Some(&auth),
            ),
        ];
        for (name, url, script, header) in routes {
            let m = wrk(&url, script, header);
            let (rss, peak) = memory(pid);
            table.push(format!(
                "| {} | {name} | {:.0} | {} | {} | {} / {} | {rss} / {peak} |",
                db.label, m.requests_per_sec, m.p50, m.p99, m.not_2xx, m.total
            ));
            eprintln!("{}", table.last().unwrap());
        }
        server.terminate();
    }
    println!(
        "\n{count} workstations, {} connections, {} wrk threads, {} s per route\n",
        knob("LOAD_CONNECTIONS", 64),
        knob("LOAD_THREADS", 2),
        knob("LOAD_SECONDS", 15)
    );
    for row in table {
        println!("{row}");
    }
}
