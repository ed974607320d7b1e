//! Invitations and notifications end to end: sync queues invitations in its transaction, a real
//! SMTP server (aiosmtpd, `scripts/smtp-sink.py`) receives them, an SMTP server that is down
//! leaves them queued and retried, two senders at once send each message once, and the
//! enrollment page and its single-use link work.
//!
//! More in the modules: `links` (a copy sent again after a crash keeps its link; messages about
//! what no longer holds are cancelled), `activation_code` (`mail.include_activation_code`),
//! `outbox_rules` (giving up after `mail.max_attempts`, custom templates) and `smtp_auth` (the
//! SMTP login: delivered with the right password, queued with a clear error otherwise, and the
//! password never in an error or a log line).

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::format_push_string
)]

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use keyward_test_support::{SmtpSink, TestDb, bin_path, free_port};
use serde_json::Value;

#[path = "mail_e2e/activation_code.rs"]
mod activation_code;
#[path = "mail_e2e/links.rs"]
mod links;
#[path = "mail_e2e/outbox_rules.rs"]
mod outbox_rules;
#[path = "mail_e2e/smtp_auth.rs"]
mod smtp_auth;

fn config(dir: &Path, lab: &HashMap<String, String>, smtp_port: u16) -> PathBuf {
    let path = dir.join("keyward.toml");
    let mut text = format!(
        "[mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {smtp_port}\nsecurity = \"none\"\nfrom = \"keyward <keyward@example.com>\"\npublic_url = \"https://keyward.example.com\"\nretry_base_secs = 0\nmax_attempts = 5\n"
    );
    for n in [1, 2] {
        text.push_str(&format!(
            "\n[[directories]]\nname = \"corp{n}\"\nurls = [\"{}\"]\nca_file = \"{}\"\nbind_dn = \"{}\"\nbind_password_env = \"KWM_CORP{n}\"\ninvite_new_employees = true\n",
            lab[&format!("KWLAB_AD{n}_LDAPS_URL")], lab[&format!("KWLAB_AD{n}_CA_CERT")], lab[&format!("KWLAB_AD{n}_BIND_DN")]
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn keyward(lab: &HashMap<String, String>, cfg: &Path, db: &str, args: &[&str]) -> Output {
    Command::new(bin_path("keyward"))
        .arg("--config")
        .arg(cfg)
        .args(["--database-url", db, "--output", "json"])
        .args(args)
        .env("KWM_CORP1", &lab["KWLAB_AD1_BIND_PASSWORD"])
        .env("KWM_CORP2", &lab["KWLAB_AD2_BIND_PASSWORD"])
        .output()
        .unwrap()
}

fn json_ok(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The link token of the first link in the message, with quoted-printable soft line breaks
/// undone (a mail client does the same).
fn link_token(message: &str) -> String {
    let message = message.replace("=\r\n", "").replace("=\n", "");
    let start = message.find("/enroll/").expect("a link in the message") + "/enroll/".len();
    message[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

fn recipient(message: &str) -> String {
    message
        .lines()
        .nth(1)
        .unwrap()
        .trim_start_matches("X-Envelope-To: ")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn invitations_are_queued_by_sync_sent_once_and_used_once() {
    let Some(lab) = keyward_test_support::lab() else {
        return;
    };
    let db = TestDb::sqlite_file().migrated();
    let url = db.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let smtp_port = free_port();
    let cfg = config(dir.path(), &lab, smtp_port);

    // corp2 first: alice, grace, heidi. Then corp1: bob and carol; alice is the same person and
    // is not invited twice; dave is disabled, erin has no mail, frank/frank2 conflict.
    json_ok(&keyward(&lab, &cfg, url, &["sync", "corp2"]));
    json_ok(&keyward(&lab, &cfg, url, &["sync", "corp1"]));
    let invitations = json_ok(&keyward(&lab, &cfg, url, &["invitations", "list"]));
    let mut to: Vec<String> = invitations
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["recipient"].as_str().unwrap().to_owned())
        .collect();
    to.sort();
    assert_eq!(
        to,
        [
            "alice@shared.example.com",
            "bob@corp1.example.com",
            "carol@corp1.example.com",
            "grace@corp2.example.com",
            "heidi@corp2.example.com"
        ]
    );
    assert!(
        invitations
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["state"] == "queued")
    );

    // The SMTP server is down: nothing is lost, every message waits with its error.
    let down = json_ok(&keyward(&lab, &cfg, url, &["mail", "send"]));
    assert_eq!(down["sent"], 0);
    assert_eq!(down["failed"], 5);
    let invitations = json_ok(&keyward(&lab, &cfg, url, &["invitations", "list"]));
    for i in invitations.as_array().unwrap() {
        assert_eq!(i["state"], "queued", "{i}");
        assert_eq!(i["attempts"], 1, "{i}");
        assert!(i["last_error"].as_str().unwrap().contains("SMTP"), "{i}");
    }

    // It comes back; two senders run at once; each message arrives once.
    let mail_dir = dir.path().join("mail");
    let sink = SmtpSink::start_with(smtp_port, &mail_dir, &[]);
    let spawn = || {
        Command::new(bin_path("keyward"))
            .arg("--config")
            .arg(&cfg)
            .args(["--database-url", url, "--output", "json", "mail", "send"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    let sent: u64 = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ]
    .iter()
    .map(|o| json_ok(o)["sent"].as_u64().unwrap())
    .sum();
    assert_eq!(sent, 5);
    assert_eq!(
        json_ok(&keyward(&lab, &cfg, url, &["mail", "send"]))["sent"],
        0,
        "nothing is sent twice"
    );
    std::thread::sleep(Duration::from_millis(200));
    let messages = sink.messages();
    let mut received: Vec<String> = messages.iter().map(|m| recipient(m)).collect();
    received.sort();
    assert_eq!(received, to, "each invitation exactly once");
    let invitations = json_ok(&keyward(&lab, &cfg, url, &["invitations", "list"]));
    assert!(
        invitations
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["state"] == "sent")
    );

    // The enrollment page and the single-use link.
    let grace_mail = messages
        .iter()
        .find(|m| recipient(m) == "grace@corp2.example.com")
        .unwrap();
    assert!(grace_mail.contains("Subject: Your invitation"));
    let token = link_token(grace_mail);
    assert_eq!(token.len(), 43, "a 256-bit token in URL-safe base64");
    let mut server = KillOnDrop(
        Command::new(bin_path("keyward-server"))
            .args(["--listen", "127.0.0.1:0", "--database-url", url])
            .arg("--config")
            .arg(&cfg)
            .env("KWM_CORP1", &lab["KWLAB_AD1_BIND_PASSWORD"])
            .env("KWM_CORP2", &lab["KWLAB_AD2_BIND_PASSWORD"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut reader = BufReader::new(server.0.stdout.take().unwrap());
    let base = loop {
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
    std::thread::spawn(move || for _ in reader.lines() {});
    let http = reqwest::Client::new();
    let page = http
        .get(format!("{base}/enroll/{token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Grace") && html.contains("<svg") && html.contains("keyward-enroll:v1"),
        "{html}"
    );
    assert_eq!(
        http.post(format!("{base}/enroll/{token}/accept"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        http.get(format!("{base}/enroll/{token}"))
            .send()
            .await
            .unwrap()
            .status(),
        410
    );
    assert_eq!(
        http.post(format!("{base}/enroll/{token}/accept"))
            .send()
            .await
            .unwrap()
            .status(),
        409
    );
    assert_eq!(
        http.get(format!("{base}/enroll/not-a-token"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Resend: a new link; the old one stops working. Revoke: the link stops working.
    let invitations = json_ok(&keyward(&lab, &cfg, url, &["invitations", "list"]));
    let find = |email: &str| {
        invitations
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["recipient"] == email)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let alice_old = link_token(
        messages
            .iter()
            .find(|m| recipient(m) == "alice@shared.example.com")
            .unwrap(),
    );
    json_ok(&keyward(
        &lab,
        &cfg,
        url,
        &["invitations", "resend", &find("alice@shared.example.com")],
    ));
    let heidi_token = link_token(
        messages
            .iter()
            .find(|m| recipient(m) == "heidi@corp2.example.com")
            .unwrap(),
    );
    json_ok(&keyward(
        &lab,
        &cfg,
        url,
        &["invitations", "revoke", &find("heidi@corp2.example.com")],
    ));
    assert_eq!(
        http.get(format!("{base}/enroll/{heidi_token}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // A key assignment tells its owner, without the activation code. The server's own outbox
    // worker sends the resent invitation and the notification.
    json_ok(&keyward(&lab, &cfg, url, &["keys", "import", "ST-900"]));
    let assigned = json_ok(&keyward(
        &lab,
        &cfg,
        url,
        &[
            "keys",
            "assign",
            "ST-900",
            "--employee",
            "bob@corp1.example.com",
        ],
    ));
    let code = assigned["activation_code"].as_str().unwrap().to_owned();
    let mut all = Vec::new();
    for _ in 0..100 {
        all = sink.messages();
        if all.len() >= 7 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        all.len(),
        7,
        "the resent invitation and the key notification"
    );
    let key_mail = all.iter().find(|m| m.contains("ST-900")).unwrap();
    assert_eq!(recipient(key_mail), "bob@corp1.example.com");
    assert!(
        !key_mail.contains(&code),
        "the activation code is never mailed"
    );
    let alice_new = link_token(
        all.iter()
            .rev()
            .find(|m| recipient(m) == "alice@shared.example.com")
            .unwrap(),
    );
    assert_ne!(alice_new, alice_old);
    assert_eq!(
        http.get(format!("{base}/enroll/{alice_old}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        http.get(format!("{base}/enroll/{alice_new}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Expiry: time moves past the invitation's expiry (the row's expiry is set to its creation
    // instant, the only thing a test cannot wait for). The page says so, the link cannot be
    // used, and the list shows it expired.
    keyward_test_support::execute_sql(url, "UPDATE invitations SET expires_at = created_at").await;
    let page = http
        .get(format!("{base}/enroll/{alice_new}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 410);
    assert!(page.text().await.unwrap().contains("expired"));
    let accept = http
        .post(format!("{base}/enroll/{alice_new}/accept"))
        .send()
        .await
        .unwrap();
    assert!(accept.status().is_client_error(), "{}", accept.status());
    let listed = json_ok(&keyward(&lab, &cfg, url, &["invitations", "list"]));
    let alice = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["recipient"] == "alice@shared.example.com")
        .unwrap();
    assert_eq!(alice["state"], "expired", "{alice}");
    drop(server);
}

/// A child process that is killed when the test ends, also when it panics: a server left
/// running would hold the test's output pipes open and hang the test runner.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `keyward-server` whose whole output (stdout and stderr, at the configured log
/// level) is collected, so a test can check that a secret never reaches a log line.
struct Server {
    _child: KillOnDrop,
    base: String,
    output: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    fn start(cfg: &Path, db: &str, env: &[(&str, &str)]) -> Self {
        let mut child = KillOnDrop(
            Command::new(bin_path("keyward-server"))
                .args(["--listen", "127.0.0.1:0", "--database-url", db])
                .arg("--config")
                .arg(cfg)
                .envs(env.iter().copied())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = child.0.stderr.take().unwrap();
        let collected = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                collected.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let mut reader = BufReader::new(child.0.stdout.take().unwrap());
        let base = loop {
            let mut line = String::new();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "the server exited: {}",
                output.lock().unwrap()
            );
            output.lock().unwrap().push_str(&line);
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                break format!(
                    "http://{}",
                    addr.trim_end_matches(|c: char| !c.is_ascii_digit())
                );
            }
        };
        let collected = output.clone();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                collected.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        Self {
            _child: child,
            base,
            output,
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

/// A message's text with quoted-printable soft line breaks undone, as a mail client shows it.
fn unfolded(message: &str) -> String {
    message.replace("=\r\n", "").replace("=\n", "")
}

/// Waits up to ten seconds for the sink to hold `n` messages; returns what it holds.
fn wait_for_messages(sink: &SmtpSink, n: usize) -> Vec<String> {
    for _ in 0..100 {
        let messages = sink.messages();
        if messages.len() >= n {
            return messages;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    sink.messages()
}

/// The outbox as the store sees it.
async fn outbox(db: &str) -> Vec<keyward_store::OutboxMessage> {
    let store = keyward_store::Store::connect(db).await.unwrap();
    let messages = store.list_messages(1000).await.unwrap();
    store.close().await.unwrap();
    messages
}

/// `keyward --output json` without a directory lab.
fn cli(cfg: &Path, db: &str, args: &[&str]) -> Output {
    Command::new(bin_path("keyward"))
        .arg("--config")
        .arg(cfg)
        .args(["--database-url", db, "--output", "json"])
        .args(args)
        .output()
        .unwrap()
}

/// Creates employees with keys assigned: each assignment queues one key notification.
fn queue_key_notices(cfg: &Path, db: &str, prefix: &str, n: usize) -> Vec<String> {
    let mut recipients = Vec::new();
    for i in 0..n {
        let email = format!("{prefix}{i}@example.com");
        let serial = format!("HK-{prefix}-{i}");
        json_ok(&cli(
            cfg,
            db,
            &[
                "employees",
                "create",
                "--email",
                &email,
                "--display-name",
                &format!("{prefix} {i}"),
            ],
        ));
        json_ok(&cli(cfg, db, &["keys", "import", &serial]));
        json_ok(&cli(
            cfg,
            db,
            &["keys", "assign", &serial, "--employee", &email],
        ));
        recipients.push(email);
    }
    recipients
}

fn mail_config(
    dir: &Path,
    port: u16,
    security: &str,
    ca_file: Option<&Path>,
    extra: &str,
) -> PathBuf {
    let path = dir.join(format!("mail-{port}.toml"));
    let mut text = format!(
        "[mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsecurity = \"{security}\"\n\
         from = \"keyward <keyward@example.com>\"\nretry_base_secs = 0\nmax_attempts = 5\n{extra}"
    );
    if let Some(ca) = ca_file {
        text.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// The Message-ID header of a received message.
fn message_id(message: &str) -> String {
    message
        .lines()
        .find_map(|l| {
            l.strip_prefix("Message-ID: ")
                .or_else(|| l.strip_prefix("Message-Id: "))
        })
        .expect("a Message-ID")
        .trim()
        .to_owned()
}

/// A self-signed certificate for 127.0.0.1 and localhost, and its key, made in `dir`: the SMTP
/// sink's TLS identity, which keyward trusts only through `mail.ca_file`.
fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

#[tokio::test]
async fn mail_goes_over_starttls_and_implicit_tls_and_an_untrusted_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_cert(dir.path());
    let db = TestDb::sqlite_file().migrated();
    for (mode, security) in [("starttls", "starttls"), ("implicit", "tls")] {
        let port = free_port();
        let inbox = dir.path().join(mode);
        let sink = SmtpSink::start_with(
            port,
            &inbox,
            &[
                "--tls",
                mode,
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        );
        // Trusting only the system roots, the self-signed certificate is refused: nothing is
        // sent and the message stays queued with the reason.
        let untrusting = mail_config(dir.path(), port, security, None, "");
        let recipients = queue_key_notices(&untrusting, &db.url, &format!("tls{mode}"), 1);
        let report = json_ok(&cli(&untrusting, &db.url, &["mail", "send"]));
        assert_eq!(
            (report["sent"].as_u64(), report["failed"].as_u64()),
            (Some(0), Some(1)),
            "{mode}: {report}"
        );
        assert!(sink.messages().is_empty());
        let store = keyward_store::Store::connect(&db.url).await.unwrap();
        let queued = store
            .list_messages(100)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.recipient == recipients[0])
            .unwrap();
        assert_eq!(queued.status, "queued", "{mode}");
        let error = queued.last_error.unwrap().to_lowercase();
        assert!(
            error.contains("certificate") || error.contains("tls"),
            "{mode}: {error}"
        );
        store.close().await.unwrap();
        // Trusting its CA, it goes through encrypted (the sink speaks nothing else).
        let trusting = mail_config(dir.path(), port, security, Some(&cert), "");
        let report = json_ok(&cli(&trusting, &db.url, &["mail", "send"]));
        let store = keyward_store::Store::connect(&db.url).await.unwrap();
        let after = store.list_messages(100).await.unwrap();
        store.close().await.unwrap();
        assert_eq!(
            report["sent"].as_u64(),
            Some(1),
            "{mode}: {report} {after:?}"
        );
        let received = sink.messages();
        assert_eq!(received.len(), 1);
        assert_eq!(recipient(&received[0]), recipients[0]);
        assert!(received[0].contains("was assigned to you"));
    }
}

#[tokio::test]
async fn a_restarted_server_sends_each_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = SmtpSink::start_with(port, &dir.path().join("inbox"), &["--delay", "0.25"]);
    let cfg = mail_config(
        dir.path(),
        port,
        "none",
        None,
        "send_interval_secs = 1\nclaim_secs = 3\n",
    );
    let db = TestDb::sqlite_file().migrated();
    let start = || {
        let mut child = KillOnDrop(
            Command::new(bin_path("keyward-server"))
                .args(["--listen", "127.0.0.1:0", "--database-url", &db.url])
                .arg("--config")
                .arg(&cfg)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let mut reader = BufReader::new(child.0.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("listening on") {
            line.clear();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "the server exited"
            );
        }
        std::thread::spawn(move || for _ in reader.lines() {});
        child
    };
    let mut seed = u64::from(std::process::id()) | 1;
    let mut pause = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        Duration::from_millis(200 + seed % 900)
    };

    // Graceful restarts (SIGTERM) in the middle of sending: exactly once.
    let first = queue_key_notices(&cfg, &db.url, "graceful", 8);
    let mut restarts = 0;
    while sink.messages().len() < first.len() {
        assert!(restarts < 40, "not everything was sent");
        let mut server = start();
        std::thread::sleep(pause());
        Command::new("kill")
            .args(["-TERM", &server.0.id().to_string()])
            .status()
            .unwrap();
        assert!(
            server.0.wait().unwrap().success(),
            "the server did not stop cleanly"
        );
        restarts += 1;
    }
    let received = sink.messages();
    assert_eq!(
        received.len(),
        first.len(),
        "a message was sent twice across {restarts} restarts"
    );
    let mut to: Vec<String> = received.iter().map(|m| recipient(m)).collect();
    to.sort();
    let mut expected = first.clone();
    expected.sort();
    assert_eq!(to, expected);
    eprintln!(
        "graceful: {} messages over {restarts} SIGTERM restarts, each once",
        first.len()
    );

    // SIGKILL in the middle: nothing is lost; a message the SMTP server took just before the
    // kill may come again once, with the same Message-ID, so the receiver can drop it.
    let second = queue_key_notices(&cfg, &db.url, "killed", 8);
    let mut kills = 0;
    let mut server = start();
    let deadline = std::time::Instant::now() + Duration::from_mins(2);
    loop {
        let got: Vec<String> = sink.messages()[first.len()..].to_vec();
        let mut ids: Vec<String> = got.iter().map(|m| message_id(m)).collect();
        ids.sort();
        ids.dedup();
        if ids.len() == second.len() {
            assert!(got.len() - ids.len() <= kills, "more duplicates than kills");
            let mut to: Vec<String> = got.iter().map(|m| recipient(m)).collect();
            to.sort();
            to.dedup();
            let mut expected = second.clone();
            expected.sort();
            assert_eq!(to, expected);
            eprintln!(
                "SIGKILL: {} messages over {kills} kills, {} resent with the same Message-ID",
                second.len(),
                got.len() - ids.len()
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "messages were lost after {kills} kills"
        );
        if kills < 6 {
            std::thread::sleep(pause());
            drop(server);
            kills += 1;
            server = start();
        } else {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    drop(server);
}
