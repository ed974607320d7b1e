//! A running keyward-server on its own database, the CLI on the same database, and an HTTP
//! client that plays workstations: the harness of the end-to-end tests that act as an attacker
//! or an administrator would, against the real Samba lab.

#![allow(dead_code)] // Each test file uses part of it.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keyward_test_support::{LabFixture, bin_path};
use serde_json::{Value, json};

/// One `[[directories]]` table for lab domain `domain` (bind password from `KWA_CORP<domain>`)
/// whose sync group is `group_dn`, also its rotation group when `rotation` is set.
pub fn directory_toml(
    lab: &HashMap<String, String>,
    domain: u8,
    name: &str,
    group_dn: &str,
    rotation: bool,
    priority: i32,
) -> String {
    let var = |k: &str| lab[&format!("KWLAB_AD{domain}_{k}")].clone();
    let rotation = if rotation {
        format!("rotation_group = \"{group_dn}\"\n")
    } else {
        String::new()
    };
    format!(
        "[[directories]]\nname = \"{name}\"\nurls = [\"{}\"]\nca_file = \"{}\"\nbind_dn = \"{}\"\n\
         bind_password_env = \"KWA_CORP{domain}\"\nsync_group = \"{group_dn}\"\n{rotation}priority = {priority}\n\n",
        var("LDAPS_URL"),
        var("CA_CERT"),
        var("BIND_DN"),
    )
}

/// The CLI on its own database, with a fresh key-encryption key and a configuration of the
/// `[[directories]]` given (see [`directory_toml`]); the bind passwords of both lab domains are
/// in its environment.
pub struct Cli {
    pub lab: HashMap<String, String>,
    _dir: tempfile::TempDir,
    config: PathBuf,
    db: String,
}

impl Cli {
    /// Writes the key file and the configuration (`sync` goes into `[sync]`) and migrates `db`.
    pub fn new(lab: HashMap<String, String>, sync: &str, directories: &str, db: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("kek");
        let made = Command::new(bin_path("keyward"))
            .args(["secrets", "new-key-file"])
            .arg(&key_file)
            .output()
            .unwrap();
        assert!(made.status.success());
        let config = dir.path().join("keyward.toml");
        std::fs::write(
            &config,
            format!(
                "[secrets]\nkey_file = \"{}\"\n\n[sync]\nincremental_interval_secs = 0\n{sync}\n\n\
                 [passwords]\npoll_interval_secs = 1\nclaim_secs = 3\nretry_base_secs = 1\nretry_max_secs = 2\n\n\
                 {directories}",
                key_file.display(),
            ),
        )
        .unwrap();
        let cli = Self {
            lab,
            _dir: dir,
            config,
            db: db.to_owned(),
        };
        cli.run(&["migrate"]);
        cli
    }

    /// `keyward --output json ARGS`: its exit code and JSON (stdout, or the error on stderr).
    pub fn result(&self, args: &[&str]) -> (bool, Value) {
        let out = self.command("keyward").args(args).output().unwrap();
        let text = if out.status.success() {
            out.stdout
        } else {
            out.stderr
        };
        (
            out.status.success(),
            serde_json::from_slice(&text).unwrap_or(Value::Null),
        )
    }

    /// [`Cli::result`], asserting success.
    pub fn run(&self, args: &[&str]) -> Value {
        let (ok, value) = self.result(args);
        assert!(ok, "keyward {args:?}: {value}");
        value
    }

    /// A keyward binary with this configuration, database and environment.
    fn command(&self, binary: &str) -> Command {
        let mut command = Command::new(bin_path(binary));
        command
            .arg("--config")
            .arg(&self.config)
            .args(["--database-url", &self.db])
            .env("KWA_CORP1", &self.lab["KWLAB_AD1_BIND_PASSWORD"])
            .env("KWA_CORP2", &self.lab["KWLAB_AD2_BIND_PASSWORD"]);
        if binary == "keyward" {
            command.args(["--output", "json"]);
        }
        command
    }
}

/// A running server on its own database, with the CLI on the same database.
pub struct Target {
    pub lab: HashMap<String, String>,
    cli: Cli,
    server: Child,
    base: String,
    http: reqwest::Client,
    /// The fixed port of a server whose console is used (`console.public_url` names it).
    console_port: Option<u16>,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl Target {
    /// Imports `fixture`'s users of lab domain 1 (its group is the sync and the rotation group)
    /// and starts the server.
    pub fn start(lab: HashMap<String, String>, fixture: &LabFixture, db: &str) -> Self {
        let directories = directory_toml(&lab, 1, "corp1", &fixture.group_dn, true, 0);
        Self::start_with(lab, &directories, db)
    }

    /// With the `[[directories]]` tables given (see [`directory_toml`]): a first sync of every
    /// directory, then the server.
    pub fn start_with(lab: HashMap<String, String>, directories: &str, db: &str) -> Self {
        let cli = Cli::new(lab.clone(), "", directories, db);
        cli.run(&["sync"]);
        let mut target = Self {
            server: Command::new("true").spawn().unwrap(),
            base: String::new(),
            lab,
            cli,
            http: reqwest::Client::new(),
            console_port: None,
        };
        target.start_server();
        target
    }

    /// A server whose console is at `http://localhost:PORT` (a fixed free port, named in
    /// `[console]`), on a database where nothing is synchronized yet; `sync` goes into
    /// `[sync]`.
    pub fn start_for_console(
        lab: HashMap<String, String>,
        sync: &str,
        directories: &str,
        db: &str,
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let console = format!("[console]\npublic_url = \"http://localhost:{port}\"\n\n");
        let cli = Cli::new(lab.clone(), sync, &format!("{console}{directories}"), db);
        let mut target = Self {
            server: Command::new("true").spawn().unwrap(),
            base: String::new(),
            lab,
            cli,
            http: reqwest::Client::new(),
            console_port: Some(port),
        };
        target.start_server();
        target
    }

    /// The console's address, as the browser opens it.
    pub fn console_url(&self) -> String {
        format!(
            "http://localhost:{}",
            self.console_port.expect("a console target")
        )
    }

    /// The API's address.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn start_server(&mut self) {
        let mut child = self
            .cli
            .command("keyward-server")
            .args([
                "--listen",
                &format!("127.0.0.1:{}", self.console_port.unwrap_or(0)),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        self.base = loop {
            let mut line = String::new();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "the server exited"
            );
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                break format!(
                    "http://{}",
                    addr.trim_end_matches(|c: char| !c.is_ascii_digit())
                );
            }
        };
        std::thread::spawn(move || for _ in reader.lines().map_while(Result::ok) {});
        self.server = child;
    }

    /// `keyward --output json ARGS` on the server's database: exit code and JSON.
    pub fn cli_result(&self, args: &[&str]) -> (bool, Value) {
        self.cli.result(args)
    }

    /// [`Target::cli_result`], asserting success.
    pub fn cli(&self, args: &[&str]) -> Value {
        self.cli.run(args)
    }

    /// One HTTP request: the status and the JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        credential: &str,
        body: Option<Value>,
        proof: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(credential);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(proof) = proof {
            request = request.header("Keyward-Key-Proof", proof);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A workstation registered and approved by an administrator; its credential.
    pub async fn workstation(&self, name: &str) -> String {
        let response = self
            .http
            .post(format!("{}/api/v1/agent/register", self.base))
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let body: Value = response.json().await.unwrap();
        self.cli(&[
            "workstations",
            "approve",
            body["workstation_id"].as_str().unwrap(),
        ]);
        body["credential"].as_str().unwrap().to_owned()
    }

    /// Imports `serial` and assigns it to `email`; the activation code.
    pub fn assign(&self, serial: &str, email: &str) -> String {
        if self.cli_result(&["keys", "show", serial]).0 {
            assert_eq!(self.cli(&["keys", "show", serial])["status"], "ready");
        } else {
            self.cli(&["keys", "import", serial]);
        }
        self.cli(&["keys", "assign", serial, "--employee", email])["activation_code"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The user types `code` on workstation `ws`, as its agent does (seen, then activate); the
    /// key proof.
    pub async fn activate_on(&self, ws: &str, serial: &str, code: &str) -> String {
        self.call("POST", &seen_path(serial), ws, None, None).await;
        let (status, body) = self
            .call(
                "POST",
                &format!("/api/v1/agent/keys/{serial}/activate"),
                ws,
                Some(json!({ "code": code })),
                None,
            )
            .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("active")),
            "{body}"
        );
        body["key_proof"].as_str().unwrap().to_owned()
    }

    pub async fn pending(&self, ws: &str, serial: &str) -> (u16, Value) {
        self.call(
            "GET",
            &format!("/api/v1/agent/keys/{serial}/pending"),
            ws,
            None,
            None,
        )
        .await
    }

    /// The password state of the employee's only account.
    pub fn password_state(&self, email: &str) -> Value {
        self.cli(&["passwords", "status", "--employee", email])[0].clone()
    }

    pub fn wait_for(&self, email: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_mins(1);
        loop {
            let state = self.password_state(email);
            if done(&state) {
                return state;
            }
            assert!(Instant::now() < deadline, "not {what} in time: {state}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

pub fn seen_path(serial: &str) -> String {
    format!("/api/v1/agent/keys/{serial}/seen")
}

/// The passwords a pending answer hands over.
pub fn passwords_in(body: &Value) -> Vec<String> {
    body["accounts"]
        .as_array()
        .map(|accounts| {
            accounts
                .iter()
                .filter_map(|a| a["password"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
