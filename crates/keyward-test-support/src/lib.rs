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
}

/// The running lab of two Samba AD domains started by `lab/up.sh`: its `lab.env` as a map.
///
/// Returns `None` (with a loud note) when the lab is not running, and panics under `CI=true`,
/// where a missing lab is a failure, never a silent skip.
pub fn lab() -> Option<std::collections::HashMap<String, String>> {
    let dir = std::env::var("KWLAB_DIR").unwrap_or_else(|_| "/tmp/keyward-lab".into());
    let path = std::path::Path::new(&dir).join("lab.env");
    let Ok(text) = std::fs::read_to_string(&path) else {
        assert!(
            !in_ci(),
            "the AD lab is required under CI=true and {} is missing; run lab/up.sh",
            path.display()
        );
        eprintln!(
            "NOTE: {} missing; AD lab tests not run. Start it with lab/up.sh.",
            path.display()
        );
        return None;
    };
    let mut env = std::collections::HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("export ") else {
            continue;
        };
        if let Some((key, value)) = rest.split_once('=') {
            env.insert(key.to_owned(), value.trim_matches('\'').to_owned());
        }
    }
    Some(env)
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
