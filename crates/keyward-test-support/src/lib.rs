//! Test helpers shared by keyward's test suites. Not published.
//!
//! - [`TestDb`]: a fresh, empty database per test on each backend: SQLite in memory, an SQLite
//!   file in a temporary directory, and a new PostgreSQL database (created on the server named by
//!   `KEYWARD_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).
//! - [`bin_path`]: the path of a workspace binary built next to the running test.
//!
//! A test that needs PostgreSQL and cannot reach it fails when `CI=true` and says so loudly
//! otherwise: never a silent skip.

// A test helper that cannot set up its fixture should stop the test loudly, so panicking is the
// intended failure mode here.
#![allow(clippy::missing_panics_doc)]

mod lab_fixture;
mod smtp_sink;

pub use lab_fixture::{
    FIXTURE_PASSWORD, LabFixture, LabUser, delegate_password_reset, lab_attributes, lab_can_bind,
    lab_fixture, lab_fixture_with_lockout, lab_modify, lab_reset_password,
};
pub use smtp_sink::{SmtpSink, free_port};

use std::path::PathBuf;

use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

/// Environment variable naming the PostgreSQL server used by tests (an admin URL).
pub const POSTGRES_URL_VAR: &str = "KEYWARD_TEST_POSTGRES_URL";

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// One throw-away database.
pub struct TestDb {
    /// URL to hand to `Store::connect` or `--database-url`.
    pub url: String,
    /// `sqlite-memory`, `sqlite-file` or `postgres`, for assertion messages.
    pub label: &'static str,
    _dir: Option<TempDir>,
    /// For PostgreSQL: the admin URL and the database to drop when the value is dropped.
    drop_on_exit: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.drop_on_exit.take() else {
            return;
        };
        // Drop runs inside the test's runtime; a private runtime on its own thread avoids
        // blocking it. FORCE ends pools the test left open.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for dropping the test database");
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = admin.execute_unprepared(&sql).await;
                    admin.close().await.ok();
                }
            });
        });
        let _ = dropper.join();
    }
}

/// Runs one SQL statement on a test database (for what a test cannot otherwise arrange, such
/// as time having passed).
pub async fn execute_sql(url: &str, statement: &str) {
    let db = Database::connect(url)
        .await
        .expect("connect to the test database");
    db.execute_unprepared(statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    db.close().await.ok();
}

/// True when running under CI, where a missing test service is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl TestDb {
    /// A private in-memory SQLite database (one connection keeps it alive).
    pub fn sqlite_memory() -> Self {
        Self {
            url: "sqlite::memory:".into(),
            label: "sqlite-memory",
            _dir: None,
            drop_on_exit: None,
        }
    }

    /// An SQLite file in a new temporary directory, removed with the value.
    pub fn sqlite_file() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let path = dir.path().join("keyward.db");
        Self {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            label: "sqlite-file",
            _dir: Some(dir),
            drop_on_exit: None,
        }
    }

    /// A new, empty PostgreSQL database, or `None` outside CI when no server answers.
    pub async fn postgres() -> Option<Self> {
        let admin_url =
            std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
        let admin = match Database::connect(admin_url.as_str()).await {
            Ok(db) => db,
            Err(e) => {
                assert!(
                    !in_ci(),
                    "PostgreSQL at {admin_url} is required under CI=true and is unreachable: {e}"
                );
                eprintln!(
                    "NOTE: PostgreSQL at {admin_url} unreachable ({e}); PostgreSQL cases not run. \
                     Set {POSTGRES_URL_VAR} or run scripts/test-all.sh."
                );
                return None;
            }
        };
        let name = format!("kw_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create a test database");
        admin.close().await.ok();
        let (base, _) = admin_url
            .rsplit_once('/')
            .expect("a PostgreSQL URL ends with /DATABASE");
        Some(Self {
            url: format!("{base}/{name}"),
            label: "postgres",
            _dir: None,
            drop_on_exit: Some((admin_url.clone(), name)),
        })
    }

    /// Every backend: SQLite in memory, SQLite file, and PostgreSQL when reachable.
    pub async fn all() -> Vec<Self> {
        let mut dbs = vec![Self::sqlite_memory(), Self::sqlite_file()];
        dbs.extend(Self::postgres().await);
        dbs
    }

    /// The same database with keyward's schema applied by the built `keyward migrate`, as an
    /// administrator does first: no other CLI command creates the schema. Not for
    /// `sqlite::memory:` (another process cannot reach it).
    #[must_use]
    pub fn migrated(self) -> Self {
        cli_migrate(&self.url);
        self
    }
}

/// Runs the built `keyward migrate` on `url` and asserts that it succeeded.
pub fn cli_migrate(url: &str) {
    let out = std::process::Command::new(bin_path("keyward"))
        .args(["migrate", "--database-url", url])
        .env_remove("KEYWARD_CONFIG")
        .output()
        .expect("run keyward migrate");
    assert!(
        out.status.success(),
        "keyward migrate on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The lab's base directory: `$KWLAB_DIR`, default `/tmp/keyward-lab`.
pub fn lab_dir() -> PathBuf {
    std::env::var("KWLAB_DIR").map_or_else(|_| PathBuf::from("/tmp/keyward-lab"), PathBuf::from)
}

/// Reads a lab env file (`KEY='value'` or `export KEY='value'` lines) into a map.
pub fn read_env_file(path: &std::path::Path) -> Option<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.trim_start_matches("export ").split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
            .collect(),
    )
}

/// The running lab of two Samba AD domains started by `lab/up.sh`: its `lab.env` as a map.
///
/// Returns `None` (with a loud note) when the lab is not running, and panics under `CI=true`,
/// where a missing lab is a failure, never a silent skip.
pub fn lab() -> Option<std::collections::HashMap<String, String>> {
    let path = lab_dir().join("lab.env");
    let env = read_env_file(&path);
    if env.is_none() {
        assert!(
            !in_ci(),
            "the AD lab is required under CI=true and {} is missing; run lab/up.sh",
            path.display()
        );
        eprintln!(
            "NOTE: {} missing; AD lab tests not run. Start it with lab/up.sh.",
            path.display()
        );
    }
    env
}

/// Starts the benchmark domain CORP3 (127.0.0.4) with `lab/start-ad.sh` and makes sure it holds
/// `bulk_users` generated users in its sync group (seeding only what is missing). Returns its
/// `ad.env` as a map.
pub fn bench_domain(bulk_users: usize) -> std::collections::HashMap<String, String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let datadir = lab_dir().join("corp3");
    let started = std::process::Command::new(root.join("lab/start-ad.sh"))
        .args(["CORP3", "CORP3.TEST", "127.0.0.4"])
        .arg(&datadir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run lab/start-ad.sh");
    assert!(started.success(), "lab/start-ad.sh failed");
    let env_file = datadir.join("ad.env");
    let seeded = std::process::Command::new("python3")
        .arg(root.join("lab/seed.py"))
        .arg("--env")
        .arg(&env_file)
        .args([
            "--domain-index",
            "3",
            "--bulk-only",
            "--bulk",
            &bulk_users.to_string(),
        ])
        .output()
        .expect("run lab/seed.py");
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    read_env_file(&env_file).expect("ad.env of the benchmark domain")
}

/// Runs `ldapsearch -E pr=1000/noprompt` for the users of the lab sync group (nested) of the
/// domain in `env` (an `ad.env` map), asking for `attributes`; returns the time it took and the
/// number of entries. The speed floor benchmarks compare against.
#[allow(clippy::implicit_hasher)] // Lab env maps are plain HashMaps.
pub fn ldapsearch_sync_group(
    env: &std::collections::HashMap<String, String>,
    attributes: &[&str],
) -> (std::time::Duration, usize) {
    let filter = format!(
        "(&(objectCategory=person)(objectClass=user)(memberOf:1.2.840.113556.1.4.1941:=CN=Hideez Users Sync,OU=KeywardLab,{}))",
        env["AD_BASE_DN"]
    );
    let started = std::time::Instant::now();
    let out = std::process::Command::new("ldapsearch")
        .env("LDAPTLS_CACERT", &env["AD_CA_CERT"])
        .args(["-LLL", "-x", "-E", "pr=1000/noprompt"])
        .args([
            "-H",
            &env["AD_LDAPS_URL"],
            "-D",
            &env["AD_BIND_DN"],
            "-w",
            &env["AD_BIND_PASSWORD"],
        ])
        .args(["-b", &env["AD_BASE_DN"], &filter])
        .args(attributes)
        .output()
        .expect("run ldapsearch");
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"dn:"))
        .count();
    (elapsed, entries)
}

/// The peak resident memory of this process so far (`VmHWM`), in KiB.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The path of the workspace binary `name` in the target directory of the running test.
///
/// # Panics
/// When the binary has not been built; run `cargo build --workspace --bins` first (the test
/// script does).
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the running test");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// Runs the built `keyward` CLI on the database `db_url` with `args` (no configuration file
/// from the environment) and returns what it did.
///
/// # Panics
/// When the binary cannot be run (see [`bin_path`]).
pub fn keyward_cli(db_url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin_path("keyward"))
        .args(args)
        .arg("--database-url")
        .arg(db_url)
        .env_remove("KEYWARD_CONFIG")
        .output()
        .expect("run keyward")
}
