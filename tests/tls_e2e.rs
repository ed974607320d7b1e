//! The built server's own TLS, end to end: HTTPS with HSTS and no plain HTTP on the TLS port,
//! mutual TLS for the agent API (with `keyward-agent-sim`), certificate reload on file change
//! and on SIGHUP (a broken file keeps the certificate in use), the refusal of plain HTTP on a
//! non-loopback address unless `insecure_http`, clear errors for missing files, and a graceful
//! SIGTERM over TLS. Throwaway CAs and certificates come from rcgen; no directory is needed.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

#[path = "support/tls.rs"]
mod tls;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyward_test_support::bin_path;
use serde_json::Value;
use tls::{Issued, TestCa, https_client, peer_certificate};

/// A temporary directory with a database, a CA and a server certificate.
struct Env {
    dir: tempfile::TempDir,
    db: String,
    ca: TestCa,
    server_cert: Issued,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
        let ca = TestCa::new(dir.path(), "test-ca");
        let server_cert = ca.server(dir.path(), "server");
        Self {
            dir,
            db,
            ca,
            server_cert,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A config file with `[tls]` for the server certificate, then `extra` (TOML).
    fn tls_config(&self, extra: &str) -> PathBuf {
        self.config(&format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n{extra}",
            self.server_cert.cert_file.display(),
            self.server_cert.key_file.display()
        ))
    }

    fn config(&self, contents: &str) -> PathBuf {
        let path = self.path("keyward.toml");
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// `keyward ARGS` on the test's database.
    fn keyward(&self, args: &[&str]) -> Output {
        Command::new(bin_path("keyward"))
            .args(["--database-url", &self.db])
            .args(args)
            .env_remove("KEYWARD_CONFIG")
            .output()
            .unwrap()
    }

    fn admin_token(&self) -> String {
        let out = self.keyward(&["token", "create", "--name", "tls-test", "--scope", "admin"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// `keyward-agent-sim` against `server` with the test CA and `extra` flags.
    fn sim(&self, server: &Server, extra: &[&str], args: &[&str]) -> Output {
        Command::new(bin_path("keyward-agent-sim"))
            .args(["--server", &server.base, "--state-file"])
            .arg(self.path("agent.json"))
            .arg("--ca-file")
            .arg(&self.ca.cert_file)
            .args(extra)
            .args(args)
            .output()
            .unwrap()
    }
}

struct Server {
    child: Child,
    base: String,
    port: u16,
    log: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server with `config` on `listen`; waits for its "listening on" line.
    fn start(env: &Env, config: &Path, listen: &str) -> Self {
        let mut child = Command::new(bin_path("keyward-server"))
            .args(["--listen", listen, "--database-url", &env.db, "--config"])
            .arg(config)
            .env_remove("KEYWARD_CONFIG")
            .env("KWT_BIND_PASSWORD", "not-used")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (scheme, addr) = loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                let _ = child.wait();
                panic!("the server exited: {}", log.lock().unwrap());
            }
            log.lock().unwrap().push_str(&line);
            if let Some(rest) = line.split("listening on ").nth(1) {
                let url: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                let (scheme, addr) = url.split_once("://").unwrap();
                break (
                    scheme.to_owned(),
                    addr.trim_end_matches(|c: char| !c.is_ascii_digit())
                        .to_owned(),
                );
            }
        };
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
        Self {
            child,
            base: format!("{scheme}://127.0.0.1:{port}"),
            port,
            log,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Waits for the process to exit after a signal.
    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The certificate `client` sees at `base`.
async fn served_certificate(client: &reqwest::Client, base: &str) -> Vec<u8> {
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    peer_certificate(&response)
}

/// Waits until the server presents `expected` (the reload is asynchronous).
async fn wait_served(client: &reqwest::Client, base: &str, expected: &[u8], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while served_certificate(client, base).await != expected {
        assert!(Instant::now() < deadline, "{what}: not served in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn https_with_hsts_and_no_plain_http_on_the_tls_port() {
    let env = Env::new();
    let config = env.tls_config("");
    let server = Server::start(&env, &config, "127.0.0.1:0");
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let client = https_client(&env.ca, None);
    let response = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let hsts = response.headers()["strict-transport-security"]
        .to_str()
        .unwrap();
    assert!(hsts.starts_with("max-age="), "{hsts}");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(peer_certificate(&response), env.server_cert.der);
    let response = client
        .get(format!("{}/api/v1/openapi.json", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");

    // Plain HTTP to the TLS port gets no answer.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let err = plain
        .get(format!("http://127.0.0.1:{}/healthz", server.port))
        .send()
        .await;
    assert!(err.is_err(), "plain HTTP answered on the TLS port: {err:?}");
    // A client that does not trust the server's CA refuses it.
    let other = TestCa::new(env.dir.path(), "other-ca");
    let untrusting = https_client(&other, None);
    assert!(
        untrusting
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .is_err()
    );
    // The simulator speaks HTTPS with the CA file; without it (system roots) it refuses.
    let registered = env.sim(&server, &[], &["register", "--name", "WS-TLS"]);
    assert!(
        registered.status.success(),
        "{}",
        String::from_utf8_lossy(&registered.stderr)
    );
    let ws: Value = serde_json::from_slice(&registered.stdout).unwrap();
    assert_eq!(ws["status"], "pending");
    let without_ca = Command::new(bin_path("keyward-agent-sim"))
        .args(["--server", &server.base, "--state-file"])
        .arg(env.path("other-agent.json"))
        .args(["register", "--name", "WS-NO-CA"])
        .env_remove("KEYWARD_AGENT_CA_FILE")
        .output()
        .unwrap();
    assert_eq!(without_ca.status.code(), Some(1));
}

#[tokio::test]
async fn under_mutual_tls_an_agent_without_a_client_certificate_is_refused() {
    let env = Env::new();
    let agents_ca = TestCa::new(env.dir.path(), "agents-ca");
    let workstation = agents_ca.client(env.dir.path(), "ws-042");
    let stranger = TestCa::new(env.dir.path(), "stranger-ca").client(env.dir.path(), "ws-666");
    let config = env.tls_config(&format!(
        "client_ca_file = \"{}\"\n",
        agents_ca.cert_file.display()
    ));
    let server = Server::start(&env, &config, "127.0.0.1:0");
    let token = env.admin_token();

    // No client certificate: the agent API refuses, with a clear message.
    let refused = env.sim(&server, &[], &["register", "--name", "WS-042"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("401") && stderr.contains("client certificate"),
        "{stderr}"
    );
    // A certificate another CA signed ends the handshake.
    let cert = stranger.cert_file.to_str().unwrap();
    let key = stranger.key_file.to_str().unwrap();
    let refused = env.sim(
        &server,
        &["--client-cert", cert, "--client-key", key],
        &["register", "--name", "WS-666"],
    );
    assert_eq!(refused.status.code(), Some(1));
    // The workstation's own certificate works, for registration and every later call.
    let cert = workstation.cert_file.to_str().unwrap();
    let key = workstation.key_file.to_str().unwrap();
    let mtls = ["--client-cert", cert, "--client-key", key];
    let registered = env.sim(&server, &mtls, &["register", "--name", "WS-042"]);
    assert!(
        registered.status.success(),
        "{}",
        String::from_utf8_lossy(&registered.stderr)
    );
    let ws: Value = serde_json::from_slice(&registered.stdout).unwrap();
    let id = ws["workstation_id"].as_str().unwrap();
    let approved = env.keyward(&["workstations", "approve", id]);
    assert!(approved.status.success());
    let status = env.sim(&server, &mtls, &["status"]);
    assert!(status.status.success());
    let me: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(me["status"], "approved");
    // The registered credential alone is not enough without the certificate.
    let refused = env.sim(&server, &[], &["status"]);
    assert_eq!(refused.status.code(), Some(1));
    // Administrators keep their bearer tokens and need no certificate.
    let client = https_client(&env.ca, None);
    let response = client
        .get(format!("{}/api/v1/workstations", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = client
        .get(format!("{}/api/v1/agent/me", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(server.log().contains("mutual TLS"), "{}", server.log());
}

#[tokio::test]
async fn a_new_certificate_is_served_without_a_restart_and_a_broken_one_keeps_the_old() {
    let env = Env::new();
    let config = env.tls_config("reload_interval_secs = 1\n");
    let server = Server::start(&env, &config, "127.0.0.1:0");
    let client = https_client(&env.ca, None);
    assert_eq!(
        served_certificate(&client, &server.base).await,
        env.server_cert.der
    );

    // A broken certificate file: an error in the log, the old certificate still served.
    std::fs::write(
        &env.server_cert.cert_file,
        "-----BEGIN CERTIFICATE-----\ngarbage\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server.log().contains("TLS reload failed") {
        assert!(
            Instant::now() < deadline,
            "no reload error: {}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(server.log().contains("tls.cert_file"), "{}", server.log());
    assert_eq!(
        served_certificate(&client, &server.base).await,
        env.server_cert.der
    );

    // A new certificate and key under the same names: served to new connections.
    let renewed = env.ca.server(env.dir.path(), "server");
    assert_ne!(renewed.der, env.server_cert.der);
    wait_served(
        &client,
        &server.base,
        &renewed.der,
        "the renewed certificate",
    )
    .await;
    assert!(server.log().contains("TLS certificate and key reloaded"));
}

#[tokio::test]
async fn sighup_reloads_the_certificate_when_polling_is_off() {
    let env = Env::new();
    let config = env.tls_config("reload_interval_secs = 0\n");
    let server = Server::start(&env, &config, "127.0.0.1:0");
    let client = https_client(&env.ca, None);
    let renewed = env.ca.server(env.dir.path(), "server");
    // Without polling nothing changes on its own...
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        served_certificate(&client, &server.base).await,
        env.server_cert.der
    );
    // ...until SIGHUP.
    server.signal("-HUP");
    wait_served(&client, &server.base, &renewed.der, "after SIGHUP").await;
}

#[tokio::test]
async fn a_non_loopback_address_needs_tls_or_insecure_http() {
    let env = Env::new();
    // Refused at start, in one line that says what to do.
    let config = env.config("");
    let out = Command::new(bin_path("keyward-server"))
        .args([
            "--listen",
            "0.0.0.0:0",
            "--database-url",
            &env.db,
            "--config",
        ])
        .arg(&config)
        .env_remove("KEYWARD_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("0.0.0.0:0")
            && stderr.contains("insecure_http")
            && stderr.contains("tls.cert_file"),
        "{stderr}"
    );

    // With insecure_http: it starts, and warns.
    let config = env.config("insecure_http = true\n");
    let mut server = Server::start(&env, &config, "0.0.0.0:0");
    assert!(server.base.starts_with("http://"));
    assert!(server.log().contains("insecure_http"), "{}", server.log());
    assert!(server.log().contains("WARN"), "{}", server.log());
    let response = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key("strict-transport-security"));
    server.signal("-TERM");
    assert!(server.wait_exit(Duration::from_secs(15)).success());

    // With TLS: it starts on every interface.
    let config = env.tls_config("");
    let server = Server::start(&env, &config, "0.0.0.0:0");
    assert!(server.base.starts_with("https://"));
    assert!(!server.log().contains("insecure_http"), "{}", server.log());
    let client = https_client(&env.ca, None);
    assert_eq!(
        served_certificate(&client, &server.base).await,
        env.server_cert.der
    );
}

#[tokio::test]
async fn unusable_tls_files_stop_the_start_naming_the_key_and_the_file() {
    let env = Env::new();
    let missing = env.path("no-such-cert.pem");
    let junk_key = env.path("junk-key.pem");
    std::fs::write(&junk_key, "not a key").unwrap();
    let other = env.ca.server(env.dir.path(), "other");
    let cases = [
        (
            format!(
                "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
                missing.display(),
                env.server_cert.key_file.display()
            ),
            vec!["tls.cert_file", "no-such-cert.pem"],
        ),
        (
            format!(
                "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
                env.server_cert.cert_file.display(),
                junk_key.display()
            ),
            vec!["tls.key_file", "junk-key.pem"],
        ),
        (
            format!(
                "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
                env.server_cert.cert_file.display(),
                other.key_file.display()
            ),
            vec!["tls.cert_file", "tls.key_file"],
        ),
        (
            format!(
                "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nclient_ca_file = \"{}\"\n",
                env.server_cert.cert_file.display(),
                env.server_cert.key_file.display(),
                env.path("no-ca.pem").display()
            ),
            vec!["tls.client_ca_file", "no-ca.pem"],
        ),
        (
            format!(
                "[tls]\ncert_file = \"{}\"\n",
                env.server_cert.cert_file.display()
            ),
            vec!["tls.key_file"],
        ),
    ];
    for (toml, wanted) in cases {
        let config = env.config(&toml);
        let out = Command::new(bin_path("keyward-server"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                &env.db,
                "--config",
            ])
            .arg(&config)
            .env_remove("KEYWARD_CONFIG")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{toml}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        for word in wanted {
            assert!(stderr.contains(word), "{toml}: {stderr}");
        }
        assert!(!stderr.contains("not a key"), "{stderr}");
    }
}

/// A directory whose LDAPS port accepts and then says nothing makes a sync request that takes
/// `connect_timeout_secs`; SIGTERM in the middle lets it finish before the process exits.
#[tokio::test]
async fn sigterm_over_tls_finishes_the_request_in_flight() {
    let env = Env::new();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming().map_while(Result::ok) {
            held.push(conn);
        }
    });
    let config = env.tls_config(&format!(
        "\n[sync]\nincremental_interval_secs = 0\nfull_interval_secs = 0\n\n\
         [[directories]]\nname = \"silent\"\nurls = [\"ldaps://127.0.0.1:{port}\"]\n\
         bind_dn = \"cn=x\"\nbind_password_env = \"KWT_BIND_PASSWORD\"\nconnect_timeout_secs = 3\n"
    ));
    let mut server = Server::start(&env, &config, "127.0.0.1:0");
    let token = env.admin_token();
    let client = https_client(&env.ca, None);
    let url = format!("{}/api/v1/directories/silent/sync", server.base);
    let started = Instant::now();
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(token)
            .json(&serde_json::json!({}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!in_flight.is_finished(), "the sync answered too early");
    server.signal("-TERM");
    let response = in_flight
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["code"].is_string() || body.is_object(),
        "{status}: {body}"
    );
    assert!(server.wait_exit(Duration::from_secs(20)).success());
    assert!(
        server.log().contains("keyward-server stopped"),
        "{}",
        server.log()
    );
}
