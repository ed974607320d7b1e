//! Password rotation end to end (docs/product.md §3) with the built server, CLI and
//! `keyward-agent-sim` against a real Samba AD: Scenario 2 (sync, assign, activate through the
//! agent, AD changes only after the key acknowledged), admin rotate and set, a user's change, an
//! offline key that never gets AD changed, a policy refusal that rolls the key back, a crash
//! test that SIGKILLs the server during many rotations, and a search of every captured output
//! for the passwords keyward generated.
//!
//! Each test builds its own OU, group and users (`lab_fixture`), so no shared fixture's
//! password ever changes. The server speaks HTTPS with a throwaway CA (rcgen) that the
//! simulator trusts with `--ca-file`; Scenario 2 also runs the agent API under mutual TLS.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

// The TLS test support; this file uses the CA and the certificates, not the HTTP client.
#[allow(dead_code)]
#[path = "support/tls.rs"]
mod tls;

#[path = "support/proxy.rs"]
mod proxy;
use proxy::Proxy;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyward_test_support::{
    FIXTURE_PASSWORD, LabFixture, SmtpSink, TestDb, bin_path, lab, lab_can_bind, lab_fixture,
    lab_modify,
};
use serde_json::Value;

/// Everything a test drove, with every line any process printed, to search for secrets.
struct Harness {
    lab: HashMap<String, String>,
    dir: tempfile::TempDir,
    config: PathBuf,
    db: String,
    captured: Arc<Mutex<String>>,
    server: Option<Server>,
    ca: tls::TestCa,
    /// The workstation's client certificate, once [`Harness::mutual_tls`] turned it on.
    client_cert: Option<tls::Issued>,
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Harness {
    fn new(lab: HashMap<String, String>, fixture: &LabFixture, db: &str) -> Self {
        Self::with_mail(lab, fixture, db, None)
    }

    /// With `[mail]` pointing at an SMTP sink on `mail_port`.
    fn with_mail(
        lab: HashMap<String, String>,
        fixture: &LabFixture,
        db: &str,
        mail_port: Option<u16>,
    ) -> Self {
        keyward_test_support::cli_migrate(db);
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("kek");
        let out = Command::new(bin_path("keyward"))
            .args(["secrets", "new-key-file"])
            .arg(&key_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = dir.path().join("keyward.toml");
        let ca = tls::TestCa::new(dir.path(), "test-ca");
        let server_cert = ca.server(dir.path(), "server");
        let mail = mail_port.map_or_else(String::new, |port| {
            format!(
                "[mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsecurity = \"none\"\n\
                 from = \"keyward <keyward@example.com>\"\nsend_interval_secs = 1\n\n"
            )
        });
        std::fs::write(
            &config,
            format!(
                "log_level = \"debug\"\n{mail}[secrets]\nkey_file = \"{}\"\n\n[sync]\nincremental_interval_secs = 0\n\n\
                 [passwords]\npoll_interval_secs = 1\nclaim_secs = 3\nretry_base_secs = 1\nretry_max_secs = 2\n\n\
                 [[directories]]\nname = \"corp1\"\nurls = [\"{}\"]\nca_file = \"{}\"\nbind_dn = \"{}\"\n\
                 bind_password_env = \"KWR_CORP1\"\nsync_group = \"{}\"\nrotation_group = \"{}\"\n\n\
                 [tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
                key_file.display(),
                lab["KWLAB_AD1_LDAPS_URL"],
                lab["KWLAB_AD1_CA_CERT"],
                lab["KWLAB_AD1_BIND_DN"],
                fixture.group_dn,
                fixture.group_dn,
                server_cert.cert_file.display(),
                server_cert.key_file.display(),
            ),
        )
        .unwrap();
        Self {
            lab,
            dir,
            config,
            db: db.to_owned(),
            captured: Arc::new(Mutex::new(String::new())),
            server: None,
            ca,
            client_cert: None,
        }
    }

    /// Turns on mutual TLS for the agent API (`[tls] client_ca_file`, the last table of the
    /// config file) and gives the simulator a client certificate; before `start_server`.
    fn mutual_tls(&mut self) {
        let agents_ca = tls::TestCa::new(self.dir.path(), "agents-ca");
        self.client_cert = Some(agents_ca.client(self.dir.path(), "ws-test"));
        let config = std::fs::read_to_string(&self.config).unwrap();
        let config = format!(
            "{config}client_ca_file = \"{}\"\n",
            agents_ca.cert_file.display()
        );
        std::fs::write(&self.config, config).unwrap();
    }

    /// `--ca-file`, and the client certificate under mutual TLS: how the simulator reaches
    /// the server.
    fn sim_tls_args(&self) -> Vec<std::ffi::OsString> {
        let mut args = vec!["--ca-file".into(), self.ca.cert_file.clone().into()];
        if let Some(cert) = &self.client_cert {
            args.extend([
                "--client-cert".into(),
                cert.cert_file.clone().into(),
                "--client-key".into(),
                cert.key_file.clone().into(),
            ]);
        }
        args
    }

    fn capture(&self, out: &Output) {
        let mut all = self.captured.lock().unwrap();
        all.push_str(&String::from_utf8_lossy(&out.stdout));
        all.push_str(&String::from_utf8_lossy(&out.stderr));
    }

    /// `keyward --output json ARGS`.
    fn keyward(&self, args: &[&str]) -> Output {
        let out = Command::new(bin_path("keyward"))
            .arg("--config")
            .arg(&self.config)
            .args(["--database-url", &self.db, "--output", "json"])
            .args(args)
            .env("KWR_CORP1", &self.lab["KWLAB_AD1_BIND_PASSWORD"])
            .output()
            .unwrap();
        self.capture(&out);
        out
    }

    fn keyward_ok(&self, args: &[&str]) -> Value {
        let out = self.keyward(args);
        assert!(
            out.status.success(),
            "keyward {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn start_server(&mut self) {
        self.server = None;
        self.server = Some(self.spawn_server());
    }

    /// Starts one more `keyward-server` on the test's database and config (its output is
    /// captured like the first one's).
    fn spawn_server(&self) -> Server {
        let mut child = Command::new(bin_path("keyward-server"))
            .args(["--listen", "127.0.0.1:0", "--database-url", &self.db])
            .arg("--config")
            .arg(&self.config)
            .env("KWR_CORP1", &self.lab["KWLAB_AD1_BIND_PASSWORD"])
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let captured = self.captured.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                captured.lock().unwrap().push_str(&line);
                captured.lock().unwrap().push('\n');
            }
        });
        let base = loop {
            let mut line = String::new();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "the server exited"
            );
            self.captured.lock().unwrap().push_str(&line);
            if let Some(rest) = line.split("listening on https://").nth(1) {
                let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                break format!(
                    "https://{}",
                    addr.trim_end_matches(|c: char| !c.is_ascii_digit())
                );
            }
        };
        let captured = self.captured.clone();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                captured.lock().unwrap().push_str(&line);
                captured.lock().unwrap().push('\n');
            }
        });
        Server { child, base }
    }

    /// SIGKILL: no shutdown, no flush, a transaction cut wherever it was.
    fn kill_server(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.child.kill().unwrap();
            server.child.wait().unwrap();
        }
    }

    fn base(&self) -> String {
        self.server.as_ref().expect("server running").base.clone()
    }

    /// `keyward-agent-sim ARGS` with the test's state file (its `dump` output is not captured:
    /// it is the simulated key's memory, the one place a password is meant to be).
    fn sim(&self, args: &[&str]) -> Output {
        let out = Command::new(bin_path("keyward-agent-sim"))
            .args(["--server", &self.base(), "--state-file"])
            .arg(self.dir.path().join("agent.json"))
            .args(self.sim_tls_args())
            .args(args)
            .output()
            .unwrap();
        if args.first() != Some(&"dump") {
            self.capture(&out);
        }
        out
    }

    fn sim_ok(&self, args: &[&str]) -> Value {
        let out = self.sim(args);
        assert!(
            out.status.success(),
            "keyward-agent-sim {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Registers the simulated workstation and approves it.
    fn register_workstation(&self) {
        let ws = self.sim_ok(&["register", "--name", "WS-TEST"]);
        assert_eq!(ws["status"], "pending");
        let id = ws["workstation_id"].as_str().unwrap().to_owned();
        let refused = self.sim(&["status"]);
        assert!(refused.status.success());
        self.keyward_ok(&["workstations", "approve", &id]);
    }

    /// Imports a key, assigns it to `email`, returns the activation code.
    fn assign_key(&self, serial: &str, email: &str) -> String {
        self.keyward_ok(&["keys", "import", serial]);
        let assigned = self.keyward_ok(&["keys", "assign", serial, "--employee", email]);
        assigned["activation_code"].as_str().unwrap().to_owned()
    }

    /// The password state of the employee's only account.
    fn status(&self, email: &str) -> Value {
        let list = self.keyward_ok(&["passwords", "status", "--employee", email]);
        assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
        list[0].clone()
    }

    /// Waits until the employee's account state satisfies `done`; returns it.
    fn wait_for(&self, email: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_mins(1);
        loop {
            let s = self.status(email);
            if done(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "not {what} in time: {s}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Waits until the employee's account is idle at `version`.
    fn wait_committed(&self, email: &str, version: i64) -> Value {
        self.wait_for(email, "committed", |s| {
            s["state"] == "idle" && s["version"] == version
        })
    }

    /// Waits until the directory refused the candidate and the key must roll back.
    fn wait_rolling_back(&self, email: &str) -> Value {
        self.wait_for(email, "refused", |s| s["state"] == "rolling_back")
    }

    /// `keyward passwords set --employee EMAIL --directory corp1 --password-file F` with
    /// `value` in F.
    fn set_password(&self, email: &str, value: &str) -> Output {
        let file = self.dir.path().join("password-to-set");
        std::fs::write(&file, format!("{value}\n")).unwrap();
        self.keyward(&[
            "passwords",
            "set",
            "--employee",
            email,
            "--directory",
            "corp1",
            "--password-file",
            file.to_str().unwrap(),
        ])
    }

    /// What the simulated key holds: (`object_guid`, version, password) per account.
    fn key_accounts(&self, serial: &str) -> Vec<(String, i64, String)> {
        let dump = self.sim_ok(&["dump", serial]);
        dump["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["object_guid"].as_str().unwrap().to_owned(),
                    a["version"].as_i64().unwrap(),
                    a["password"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// Replaces `from` (which must be there) with `to` in the config file.
    fn replace_in_config(&mut self, from: &str, to: &str) {
        let config = std::fs::read_to_string(&self.config).unwrap();
        assert!(config.contains(from), "{from:?} not in {config}");
        std::fs::write(&self.config, config.replacen(from, to, 1)).unwrap();
    }

    /// Replaces the directory's URLs in the config file (before `start_server`).
    fn directory_urls(&mut self, urls: &[String]) {
        let config = std::fs::read_to_string(&self.config).unwrap();
        let line = format!("urls = [\"{}\"]", self.lab["KWLAB_AD1_LDAPS_URL"]);
        assert!(config.contains(&line), "{config}");
        let list: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
        let config = config.replace(&line, &format!("urls = [{}]", list.join(", ")));
        std::fs::write(&self.config, config).unwrap();
    }

    fn captured(&self) -> String {
        self.captured.lock().unwrap().clone()
    }
}

fn assert_never_shown(h: &Harness, secrets: &[String]) {
    let text = h.captured();
    assert!(text.len() > 1000, "the capture is suspiciously small");
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a generated password appears in a log line or output"
        );
    }
}

/// Scenario 2 of the product page, then an administrator's rotate and set and a user's change,
/// on SQLite and PostgreSQL.
#[tokio::test(flavor = "multi_thread")]
async fn scenario_2_activation_rotates_the_domain_password_through_the_key() {
    let Some(lab) = lab() else { return };
    let mut dbs = vec![TestDb::sqlite_file()];
    if let Some(pg) = TestDb::postgres().await {
        dbs.push(pg);
    }
    for db in &dbs {
        let fixture = lab_fixture(&lab, 1, "s2", &["ann"], None);
        let ann = &fixture.users[0];
        let email = ann.mail.as_str();
        let inbox = tempfile::tempdir().unwrap();
        let sink = SmtpSink::start(inbox.path());
        let mut h = Harness::with_mail(lab.clone(), &fixture, &db.url, Some(sink.port));
        h.mutual_tls();
        h.keyward_ok(&["sync", "corp1"]);
        let code = h.assign_key("HK-S2-1", email);
        // Before activation nothing is on a key and the old password keeps working.
        assert_eq!(h.status(email)["state"], "not_on_a_key");
        assert!(lab_can_bind(&lab, 1, &ann.dn, FIXTURE_PASSWORD));

        h.start_server();
        let ws = h.sim_ok(&["register", "--name", "WS-S2"]);
        let early = h.sim(&["activate", "HK-S2-1", &code]);
        assert_eq!(
            early.status.code(),
            Some(3),
            "an unapproved workstation is refused: {}",
            String::from_utf8_lossy(&early.stderr)
        );
        h.keyward_ok(&[
            "workstations",
            "approve",
            ws["workstation_id"].as_str().unwrap(),
        ]);
        let activated = h.sim_ok(&["activate", "HK-S2-1", &code]);
        assert_eq!(activated["status"], "active", "{activated}");

        // The candidate waits for the key: AD is not touched before the key acknowledges.
        let s = h.status(email);
        assert_eq!(
            (s["state"].as_str(), s["pending_version"].as_i64()),
            (Some("awaiting_key"), Some(1)),
            "{s}"
        );
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            lab_can_bind(&lab, 1, &ann.dn, FIXTURE_PASSWORD),
            "AD changed before the key had it"
        );

        h.sim_ok(&["sync"]);
        let s = h.wait_committed(email, 1);
        assert!(s["last_commit"].is_string(), "{s}");
        let held = h.key_accounts("HK-S2-1");
        assert_eq!(held.len(), 1);
        let first = held[0].2.clone();
        assert_eq!(held[0].1, 1);
        assert_eq!(first.len(), 24, "the default policy's length");
        assert!(
            lab_can_bind(&lab, 1, &ann.dn, &first),
            "the key's password does not bind"
        );
        assert!(
            !lab_can_bind(&lab, 1, &ann.dn, FIXTURE_PASSWORD),
            "the old password still binds"
        );

        // An administrator rotates: same protocol, version 2.
        h.keyward_ok(&["passwords", "rotate", "--employee", email]);
        let in_flight = h.keyward(&["passwords", "rotate", "--employee", email]);
        assert_eq!(
            in_flight.status.code(),
            Some(5),
            "one rotation in flight per account"
        );
        assert!(lab_can_bind(&lab, 1, &ann.dn, &first));
        h.sim_ok(&["sync"]);
        h.wait_committed(email, 2);
        let second = h.key_accounts("HK-S2-1")[0].2.clone();
        assert_ne!(second, first);
        assert!(lab_can_bind(&lab, 1, &ann.dn, &second));
        assert!(!lab_can_bind(&lab, 1, &ann.dn, &first));

        // An administrator sets a given value; a value the policy refuses changes nothing.
        let refused = h.set_password(email, "short1A!");
        assert_eq!(
            refused.status.code(),
            Some(6),
            "{}",
            String::from_utf8_lossy(&refused.stderr)
        );
        assert!(String::from_utf8_lossy(&refused.stderr).contains("at least 14"));
        assert_eq!(h.status(email)["state"], "idle");
        let given = "Given#Passw0rd-2026";
        assert!(h.set_password(email, given).status.success());
        h.sim_ok(&["sync"]);
        h.wait_committed(email, 3);
        assert_eq!(h.key_accounts("HK-S2-1")[0].2, given);
        assert!(lab_can_bind(&lab, 1, &ann.dn, given));

        // The user changes it on the agent, key and domain: AD gets a user change.
        let guid = h.status(email)["object_guid"].as_str().unwrap().to_owned();
        let mine = h.dir.path().join("mine");
        let user_value = "Users#OwnChoice-77";
        std::fs::write(&mine, user_value).unwrap();
        h.sim_ok(&[
            "change-password",
            "HK-S2-1",
            "corp1",
            &guid,
            "--mode",
            "key_and_domain",
            "--password-file",
            mine.to_str().unwrap(),
        ]);
        h.sim_ok(&["sync"]);
        h.wait_committed(email, 4);
        assert!(lab_can_bind(&lab, 1, &ann.dn, user_value));
        assert!(!lab_can_bind(&lab, 1, &ann.dn, given));

        // An administrator sets a generated value.
        h.keyward_ok(&[
            "passwords",
            "set",
            "--employee",
            email,
            "--directory",
            "corp1",
            "--generate",
        ]);
        h.sim_ok(&["sync"]);
        h.wait_committed(email, 5);
        let fifth = h.key_accounts("HK-S2-1")[0].2.clone();
        assert!(lab_can_bind(&lab, 1, &ann.dn, &fifth));
        assert!(!lab_can_bind(&lab, 1, &ann.dn, user_value));

        // Each commit queued a notification for the employee (never the password).
        let store = keyward_store::Store::connect(&db.url).await.unwrap();
        let rotated: Vec<_> = store
            .list_messages(100)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == "password_rotated")
            .collect();
        assert_eq!(rotated.len(), 5, "{rotated:?}");
        assert!(
            rotated
                .iter()
                .all(|m| m.recipient == email && m.subject_ref == "corp1/s2-ann")
        );
        store.close().await.unwrap();
        // The server's mailer sent them.
        let deadline = Instant::now() + Duration::from_secs(30);
        let notices = loop {
            let received: Vec<String> = sink
                .messages()
                .into_iter()
                .filter(|m| m.contains("The password of your account corp1/s2-ann was changed"))
                .collect();
            if received.len() == 5 {
                break received;
            }
            assert!(
                Instant::now() < deadline,
                "{} rotation notices arrived",
                received.len()
            );
            std::thread::sleep(Duration::from_millis(300));
        };
        for notice in &notices {
            h.captured.lock().unwrap().push_str(notice);
        }

        // The admin API and the status never show a password.
        let token = h.keyward_ok(&["token", "create", "--name", "s2-admin", "--scope", "admin"]);
        let secret = token["secret"]
            .as_str()
            .unwrap_or_else(|| token["token"].as_str().unwrap())
            .to_owned();
        let api = tls::https_client(&h.ca, None)
            .get(format!("{}/api/v1/passwords", h.base()))
            .bearer_auth(secret)
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), 200);
        assert_eq!(api.headers()["cache-control"], "no-store");
        assert!(api.headers().contains_key("strict-transport-security"));
        let body = api.text().await.unwrap();
        h.captured.lock().unwrap().push_str(&body);
        assert!(body.contains("s2-ann"), "{body}");
        assert_never_shown(
            &h,
            &[
                first,
                second,
                fifth,
                given.to_owned(),
                user_value.to_owned(),
            ],
        );
        drop(h);
    }
}

/// Sets the minimum length of the fine-grained policy `lab_fixture(.., name, .., Some(_))` made.
fn set_pso_min_length(lab: &HashMap<String, String>, name: &str, min: u32) {
    let base = &lab["KWLAB_AD1_BASE_DN"];
    lab_modify(
        lab,
        1,
        &format!(
            "dn: CN=kw-pso-{name},CN=Password Settings Container,CN=System,{base}\n\
             changetype: modify\nreplace: msDS-MinimumPasswordLength\n\
             msDS-MinimumPasswordLength: {min}\n-\n\n"
        ),
    );
}

/// A key that stays offline never gets AD changed. Candidates meet the domain's fine-grained
/// policy when they are made (a given password that does not is refused before anything is
/// sent); a candidate the domain refuses because its policy grew stricter after the candidate
/// was made rolls the key back: to nothing after a first rotation, to the committed value
/// after a later one.
#[tokio::test(flavor = "multi_thread")]
async fn an_offline_key_keeps_ad_unchanged_and_a_refused_candidate_rolls_the_key_back() {
    let Some(lab) = lab() else { return };
    let db = TestDb::sqlite_file();
    // The PSO starts laxer than keyward's own policy (24 characters).
    let fixture = lab_fixture(&lab, 1, "pso", &["eve"], Some(7));
    let eve = &fixture.users[0];
    let email = eve.mail.as_str();
    let mut h = Harness::new(lab.clone(), &fixture, &db.url);
    let synced = h.keyward_ok(&["sync", "corp1"]);
    let code = h.assign_key("HK-PSO-1", email);
    h.start_server();
    h.register_workstation();
    h.sim_ok(&["activate", "HK-PSO-1", &code]);

    // Offline: the workstation never syncs. The worker runs (every second) and AD stays.
    std::thread::sleep(Duration::from_secs(4));
    let s = h.status(email);
    assert_eq!(s["state"], "awaiting_key", "{s}");
    assert!(s["waiting_for"].as_str().unwrap().contains("key"));
    assert!(lab_can_bind(&lab, 1, &eve.dn, FIXTURE_PASSWORD));

    // The domain now demands 60 characters, more than the candidate made at activation. The
    // key takes version 1, AD refuses it, the key is told to drop the account again (under
    // version 2: versions are never reused), and the old password still works.
    set_pso_min_length(&lab, "pso", 60);
    h.sim_ok(&["sync"]);
    let s = h.wait_rolling_back(email);
    assert!(s["last_error"].as_str().unwrap().contains("policy"), "{s}");
    let first = h.key_accounts("HK-PSO-1");
    assert_eq!(first.len(), 1, "the key held the candidate");
    assert_eq!(
        first[0].2.chars().count(),
        24,
        "made under keyward's own policy"
    );
    h.sim_ok(&["sync"]);
    let s = h.wait_committed(email, 2);
    assert!(s["last_error"].as_str().unwrap().contains("policy"), "{s}");
    assert!(
        h.key_accounts("HK-PSO-1").is_empty(),
        "the key was not rolled back"
    );
    assert!(lab_can_bind(&lab, 1, &eve.dn, FIXTURE_PASSWORD));

    // A given password shorter than the PSO's 60 is refused before anything is sent, naming
    // the policy; nothing is stored.
    let short = h.set_password(email, &"Short#Enough-".repeat(3));
    assert_eq!(short.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(
        stderr.contains("the fine-grained password policy CN=kw-pso-pso")
            && stderr.contains("requires at least 60"),
        "{stderr}"
    );
    assert_eq!(h.status(email)["state"], "idle");

    // A value long enough for the PSO commits as version 3 …
    let long = "Long#Enough-".repeat(6);
    assert!(h.set_password(email, &long).status.success());
    h.sim_ok(&["sync"]);
    h.wait_committed(email, 3);
    assert!(lab_can_bind(&lab, 1, &eve.dn, &long));

    // … a generated candidate is made to the PSO's length (version 4); the PSO then grows to
    // 80 before the key has it, so AD refuses it and the key goes back to the committed value,
    // as version 5.
    h.keyward_ok(&["passwords", "rotate", "--employee", email]);
    set_pso_min_length(&lab, "pso", 80);
    h.sim_ok(&["sync"]);
    h.wait_rolling_back(email);
    let candidate = h.key_accounts("HK-PSO-1")[0].clone();
    assert_eq!(candidate.1, 4);
    assert_eq!(
        candidate.2.chars().count(),
        60,
        "generated to the PSO's minimum"
    );
    h.sim_ok(&["sync"]);
    h.wait_committed(email, 5);
    let held = h.key_accounts("HK-PSO-1");
    assert_eq!(
        (held[0].1, held[0].2.as_str()),
        (5, long.as_str()),
        "rolled back to the committed value, as version 5"
    );
    assert!(lab_can_bind(&lab, 1, &eve.dn, &long));
    assert!(!lab_can_bind(&lab, 1, &eve.dn, &candidate.2));

    // Generated under the stricter policy now: 80 characters, and the domain takes it.
    h.keyward_ok(&["passwords", "rotate", "--employee", email]);
    h.sim_ok(&["sync"]);
    h.wait_committed(email, 6);
    let held = h.key_accounts("HK-PSO-1");
    assert_eq!(held[0].2.chars().count(), 80);
    assert!(lab_can_bind(&lab, 1, &eve.dn, &held[0].2));

    // What the server's /metrics says about all this: the CLI's sync run (from the database),
    // and this server's own directory steps, which took every step and so match the audit.
    let metrics = scrape_metrics(&h).await;
    let read = synced[0]["read"].as_f64().unwrap();
    assert!(read >= 1.0, "{synced}");
    for (series, value) in [
        (
            r#"keyward_sync_runs{directory="corp1",status="succeeded"}"#,
            1.0,
        ),
        (r#"keyward_sync_last_run_succeeded{directory="corp1"}"#, 1.0),
        (
            r#"keyward_sync_last_run_accounts_read{directory="corp1"}"#,
            read,
        ),
        (
            r#"keyward_sync_last_run_removals_held{directory="corp1"}"#,
            0.0,
        ),
        (r#"keyward_keys{status="active"}"#, 1.0),
        (r#"keyward_rotation_accounts{status="idle"}"#, 1.0),
        ("keyward_rotations_stalled", 0.0),
        (
            r#"keyward_rotation_directory_steps_total{outcome="committed"}"#,
            f64::from(audited(&h, "password.committed")),
        ),
        (
            r#"keyward_rotation_directory_steps_total{outcome="refused"}"#,
            f64::from(audited(&h, "password.refused")),
        ),
    ] {
        assert_eq!(
            metric(&metrics, series),
            Some(value),
            "{series} in:\n{metrics}"
        );
    }
    assert_eq!(
        audited(&h, "password.refused"),
        2,
        "the two candidates the PSO refused"
    );
    let finished = metric(
        &metrics,
        r#"keyward_sync_last_run_finished_timestamp_seconds{directory="corp1"}"#,
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(finished <= now && now - finished < 600.0, "{finished}");
    assert!(
        metric(
            &metrics,
            r#"keyward_sync_last_run_phase_milliseconds{directory="corp1",phase="read"}"#
        )
        .is_some()
    );
    assert_never_shown(&h, &[candidate.2, held[0].2.clone()]);
}

/// The server's `/metrics` text (over the harness's TLS).
async fn scrape_metrics(h: &Harness) -> String {
    let answer = tls::https_client(&h.ca, None)
        .get(format!("{}/metrics", h.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.text().await.unwrap()
}

/// The value of one series (`name{labels}` exactly as exposed, or a bare name).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

/// How many audit records have this action (`keyward audit list --action`).
fn audited(h: &Harness, action: &str) -> u32 {
    let records = h.keyward_ok(&["audit", "list", "--action", action, "--limit", "1000"]);
    u32::try_from(records.as_array().unwrap().len()).unwrap()
}

/// The crash test's size: `KWTEST_CRASH_USERS` accounts (4) over `KWTEST_CRASH_ROUNDS` rounds
/// (15) per backend, each round ending in a SIGKILL of the server at a random moment within
/// `KWTEST_CRASH_MAX_WAIT_MS` (1500) of the agent's start. The documented long run
/// (docs/operations.md, "How rotation is tested") sets 10, 220 and 3000.
fn crash_size() -> (usize, usize, u64) {
    fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
    (
        knob("KWTEST_CRASH_USERS", 4),
        knob("KWTEST_CRASH_ROUNDS", 15),
        knob("KWTEST_CRASH_MAX_WAIT_MS", 1500),
    )
}

/// Kills the server with SIGKILL at random moments while rotations run, and the agent too now
/// and then (or has it save and stop before acknowledging); in the middle the directory's first
/// URL goes down (a proxy cuts its connections), so the work fails over to the second. In the
/// end every key's password binds to AD and no account was locked out (the accounts' password
/// settings lock after 5 wrong passwords). On SQLite and PostgreSQL.
#[tokio::test(flavor = "multi_thread")]
async fn rotations_survive_sigkill_at_any_point() {
    let Some(lab) = lab() else { return };
    let mut dbs = vec![TestDb::sqlite_file()];
    dbs.extend(TestDb::postgres().await);
    for db in dbs {
        crash_run(&lab, &db);
    }
}

/// A cheap xorshift seeded from the clock: the kill points differ from run to run, and the
/// seed is printed so that a failure can be replayed (`KWTEST_CRASH_SEED`).
fn crash_random() -> impl FnMut(u64) -> u64 {
    let mut seed = std::env::var("KWTEST_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            u64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
                    % 1_000_000_007,
            )
            .unwrap()
        })
        | 1;
    eprintln!("crash test seed {seed}");
    move |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    }
}

/// Asks for a rotation of every user's account; one refused because a rotation is in flight
/// (exit 5) is the rule, not a failure.
fn request_rotations(h: &Harness, users: &[keyward_test_support::LabUser]) {
    for user in users {
        let out = h.keyward(&["passwords", "rotate", "--employee", &user.mail]);
        assert!(
            matches!(out.status.code(), Some(0 | 5)),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The sum of the committed versions of every account.
fn committed(h: &Harness) -> i64 {
    h.keyward_ok(&["passwords", "status"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["version"].as_i64().unwrap())
        .sum()
}

fn crash_run(lab: &HashMap<String, String>, db: &TestDb) {
    let started = Instant::now();
    let (users, rounds, max_wait_ms) = crash_size();
    let names: Vec<String> = (0..users).map(|i| format!("u{i}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let fixture_name = if db.label == "postgres" {
        "crashpg"
    } else {
        "crash"
    };
    let fixture =
        keyward_test_support::lab_fixture_with_lockout(lab, 1, fixture_name, &name_refs, 5);
    let mut h = Harness::new(lab.clone(), &fixture, &db.url);
    // Two URLs for the one domain: the first through a proxy the test takes down half-way.
    let ip = &lab["KWLAB_AD1_IP"];
    let proxy = Proxy::start(&format!("{ip}:0"), format!("{ip}:636").parse().unwrap());
    h.directory_urls(&[
        format!("ldaps://{ip}:{}", proxy.addr.port()),
        lab["KWLAB_AD1_LDAPS_URL"].clone(),
    ]);
    h.keyward_ok(&["sync", "corp1"]);
    let serials: Vec<String> = names
        .iter()
        .map(|n| format!("HK-{fixture_name}-{n}"))
        .collect();
    let codes: Vec<String> = fixture
        .users
        .iter()
        .zip(&serials)
        .map(|(u, s)| h.assign_key(s, &u.mail))
        .collect();
    h.start_server();
    h.register_workstation();
    for (serial, code) in serials.iter().zip(&codes) {
        h.sim_ok(&["activate", serial, code]);
    }

    let mut next = crash_random();
    let (mut kills, mut agent_kills, mut unacknowledged) = (0, 0, 0);
    let (down_at, up_at) = (rounds / 3, rounds * 2 / 3);
    let mut committed_when_down = 0;
    for round in 0..rounds {
        request_rotations(&h, &fixture.users);
        // The agent syncs while the server is killed at a random moment: before, during or
        // after the acknowledgements and the directory resets they trigger. One run in four
        // saves what the key stored and stops before acknowledging (a crash between the two).
        let no_ack = next(4) == 0;
        unacknowledged += u32::from(no_ack);
        let mut sync = Command::new(bin_path("keyward-agent-sim"));
        sync.args(["--server", &h.base(), "--state-file"])
            .arg(h.dir.path().join("agent.json"))
            .args(h.sim_tls_args())
            .arg("sync");
        if no_ack {
            sync.arg("--no-ack");
        }
        let mut sync = sync
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let wait = next(max_wait_ms);
        std::thread::sleep(Duration::from_millis(wait / 2));
        if round == down_at {
            // The first URL's controller goes away in the middle of whatever runs.
            proxy.set_up(false);
            committed_when_down = committed(&h);
        }
        if round == up_at {
            proxy.set_up(true);
        }
        std::thread::sleep(Duration::from_millis(wait - wait / 2));
        if next(5) == 0 {
            // The agent dies too, wherever it was (a state file it saves is written whole).
            let _ = sync.kill();
            agent_kills += 1;
        }
        h.kill_server();
        kills += 1;
        let _ = sync.wait();
        h.start_server();
        if round + 1 == up_at {
            let during = committed(&h) - committed_when_down;
            eprintln!(
                "crash test ({}): {during} rotations committed while the first URL was down",
                db.label
            );
            assert!(during > 0, "no rotation committed through the second URL");
        }
    }

    // Let everything settle: the agent syncs until no rotation is in flight (claims of killed
    // workers expire after `claim_secs`).
    let deadline = Instant::now() + Duration::from_mins(3);
    loop {
        let _ = h.sim(&["sync"]);
        let all = h.keyward_ok(&["passwords", "status"]);
        if all.as_array().unwrap().iter().all(|s| s["state"] == "idle") {
            break;
        }
        assert!(Instant::now() < deadline, "rotations did not settle: {all}");
        std::thread::sleep(Duration::from_millis(700));
    }
    let all = h.keyward_ok(&["passwords", "status"]);
    let mut generated = Vec::new();
    let mut worst_bad_passwords = 0;
    for (user, serial) in fixture.users.iter().zip(&serials) {
        let held = h.key_accounts(serial);
        assert_eq!(held.len(), 1, "{serial} holds {held:?}");
        let status = all
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sam_account_name"] == user.sam.as_str())
            .unwrap();
        assert_eq!(
            held[0].1,
            status["version"].as_i64().unwrap(),
            "key and server disagree on {serial}"
        );
        let seen =
            keyward_test_support::lab_attributes(lab, 1, &user.dn, &["lockoutTime", "badPwdCount"]);
        let locked = seen.get("lockoutTime").is_some_and(|t| t != "0");
        assert!(!locked, "{} was locked out: {seen:?}", user.sam);
        assert!(
            lab_can_bind(lab, 1, &user.dn, &held[0].2),
            "the password key {serial} holds does not bind for {}",
            user.sam
        );
        let bad: u32 = seen
            .get("badPwdCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        worst_bad_passwords = worst_bad_passwords.max(bad);
        generated.push(held[0].2.clone());
    }
    let total = committed(&h);
    eprintln!(
        "crash test ({}): {kills} server SIGKILLs, {agent_kills} agent SIGKILLs, \
         {unacknowledged} agent runs stopped before acknowledging, {total} rotations committed \
         over {users} accounts, {} connections through the proxy, at most {worst_bad_passwords} \
         wrong passwords on an account before its last bind, {:.0} s",
        db.label,
        proxy.forwarded(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        total >= i64::try_from(users).unwrap() * 2,
        "too few rotations ran: {total}"
    );
    h.kill_server();
    assert_never_shown(&h, &generated);
}

/// Whether process `pid` runs on this machine.
fn process_runs(pid: i64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Two `keyward-server` instances on one PostgreSQL database with every worker on (the sync
/// schedule, the rotation worker, the mailer), one of them killed (SIGKILL) and restarted at random
/// while rotations, syncs and mail run. Afterwards: no rotation committed twice and every
/// account's versions follow each other, no sync run overlapped another, no lease or claim is
/// held by a running process, and every message was sent, at most once apart from the
/// documented window (a sender killed after the SMTP server accepted the message and before it
/// recorded that: docs/enrollment.md, "Delivery guarantees").
#[tokio::test(flavor = "multi_thread")]
async fn two_servers_on_one_postgres_survive_sigkill() {
    let Some(lab) = lab() else { return };
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let started = Instant::now();
    let users = 4;
    let rounds: usize = std::env::var("KWTEST_TWO_SERVERS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let names: Vec<String> = (0..users).map(|i| format!("u{i}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let fixture = keyward_test_support::lab_fixture_with_lockout(&lab, 1, "twosrv", &name_refs, 5);
    let sink_dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(sink_dir.path());
    let mut h = Harness::with_mail(lab.clone(), &fixture, &db.url, Some(sink.port));
    // Both servers sync on a schedule (the lease lets one at a time), and a killed mailer's
    // claim ends soon.
    h.replace_in_config(
        "incremental_interval_secs = 0",
        "incremental_interval_secs = 2",
    );
    h.replace_in_config(
        "send_interval_secs = 1\n",
        "send_interval_secs = 1\nclaim_secs = 5\n",
    );
    h.keyward_ok(&["sync", "corp1"]);
    let serials: Vec<String> = names.iter().map(|n| format!("HK-TWO-{n}")).collect();
    let codes: Vec<String> = fixture
        .users
        .iter()
        .zip(&serials)
        .map(|(u, s)| h.assign_key(s, &u.mail))
        .collect();
    h.start_server();
    let mut other = Some(h.spawn_server());
    h.register_workstation();
    for (serial, code) in serials.iter().zip(&codes) {
        h.sim_ok(&["activate", serial, code]);
    }

    let mut next = crash_random();
    let mut kills = 0;
    for _ in 0..rounds {
        request_rotations(&h, &fixture.users);
        // The agent talks to either server.
        let base = if next(2) == 0 {
            h.base()
        } else {
            other.as_ref().unwrap().base.clone()
        };
        let sync = Command::new(bin_path("keyward-agent-sim"))
            .args(["--server", &base, "--state-file"])
            .arg(h.dir.path().join("agent.json"))
            .args(h.sim_tls_args())
            .arg("sync")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(next(2500)));
        if next(2) == 0 {
            h.kill_server();
            let _ = sync.wait_with_output();
            h.start_server();
        } else {
            let mut victim = other.take().unwrap();
            victim.child.kill().unwrap();
            victim.child.wait().unwrap();
            let _ = sync.wait_with_output();
            other = Some(h.spawn_server());
        }
        kills += 1;
    }

    // Settle: no rotation in flight and no message left to send.
    let store = keyward_store::Store::connect(&db.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_mins(3);
    loop {
        let _ = h.sim(&["sync"]);
        let all = h.keyward_ok(&["passwords", "status"]);
        let idle = all.as_array().unwrap().iter().all(|s| s["state"] == "idle");
        let outbox = store.overview().await.unwrap().outbox;
        let unsent = ["queued", "sending"]
            .iter()
            .map(|s| outbox.get(*s).copied().unwrap_or(0))
            .sum::<u64>();
        if idle && unsent == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "did not settle: {all} outbox {outbox:?}"
        );
        std::thread::sleep(Duration::from_millis(700));
    }
    let second = other.take().unwrap();
    let pid = second.child.id();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut second = second;
    second.child.wait().unwrap();
    let first = h.server.take().unwrap();
    assert!(
        Command::new("kill")
            .args(["-TERM", &first.child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut first = first;
    first.child.wait().unwrap();

    // No rotation committed twice; each account's versions follow each other.
    let commits = store
        .search_audit(&keyward_store::AuditFilter {
            action: Some("password.committed".into()),
            limit: 100_000,
            ..keyward_store::AuditFilter::default()
        })
        .await
        .unwrap();
    let mut versions: HashMap<String, Vec<i64>> = HashMap::new();
    for record in &commits {
        versions
            .entry(record.record.subject.clone())
            .or_default()
            .push(record.record.detail["version"].as_i64().unwrap());
    }
    for (account, list) in &mut versions {
        list.sort_unstable();
        let expected: Vec<i64> = (1..=i64::try_from(list.len()).unwrap()).collect();
        assert_eq!(
            *list, expected,
            "{account}: a version committed twice or skipped"
        );
    }
    // No sync run of the directory overlapped another (a run a killed server left is closed
    // by the next one at the moment it takes the lease over).
    let mut runs: Vec<_> = store
        .list_runs(10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.directory == "corp1")
        .collect();
    runs.sort_by_key(|r| r.started_at);
    for pair in runs.windows(2) {
        let end = pair[0].finished_at.unwrap_or_else(|| {
            panic!(
                "run {} never finished and a later one ran: {:?}",
                pair[0].id, pair[0]
            )
        });
        assert!(
            end <= pair[1].started_at,
            "sync runs overlap: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
    let succeeded = runs.iter().filter(|r| r.status == "succeeded").count();
    let interrupted = runs
        .iter()
        .filter(|r| {
            r.error
                .as_deref()
                .is_some_and(|e| e.starts_with("interrupted"))
        })
        .count();
    // Nothing is held by a running process: what is still live belongs to killed servers.
    let now = chrono::Utc::now();
    let claims = store.live_claims(now).await.unwrap();
    assert_eq!(
        (claims.directory_steps, claims.messages),
        (0, 0),
        "claims left: {claims:?}"
    );
    for instance in store.live_server_instances(now).await.unwrap() {
        assert!(
            !process_runs(instance.pid),
            "a stopped server's lease is still held: {instance:?}"
        );
    }
    let leases = store.live_sync_leases(now).await.unwrap();
    assert_eq!(
        leases.len(),
        usize::try_from(claims.sync_leases).unwrap(),
        "{leases:?}"
    );
    for (directory, holder) in &leases {
        let pid: i64 = holder
            .split(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("a sync lease holder that is not PID:UUID: {holder}"));
        assert!(
            !process_runs(pid),
            "the sync lease of {directory} is held by a running process: {holder}"
        );
    }
    // Every message sent, at most once except in the documented crash window.
    let messages = store.list_messages(100_000).await.unwrap();
    let mut received: HashMap<String, u32> = HashMap::new();
    for mail in sink.messages() {
        if let Some(id) = mail
            .lines()
            .find_map(|l| {
                l.strip_prefix("Message-ID: <")
                    .or_else(|| l.strip_prefix("Message-Id: <"))
            })
            .and_then(|rest| rest.split('@').next())
        {
            *received.entry(id.to_owned()).or_default() += 1;
        }
    }
    for message in messages.iter().filter(|m| m.status == "sent") {
        assert!(
            received.contains_key(&message.id.to_string()),
            "message {} is marked sent but never arrived",
            message.id
        );
    }
    let duplicates: u32 = received.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= kills,
        "{duplicates} messages arrived twice with only {kills} kills"
    );
    let committed: usize = versions.values().map(Vec::len).sum();
    eprintln!(
        "two servers: {kills} SIGKILLs over {rounds} rounds, {committed} rotations committed \
         (none twice), {} sync runs ({succeeded} succeeded, {interrupted} closed as \
         interrupted, none overlapping), {} messages sent, {duplicates} sent twice, {:.0} s",
        runs.len(),
        received.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(committed >= users, "too few rotations ran: {committed}");
}
