//! Invitations and notifications end to end: sync queues invitations in its transaction, a real
//! SMTP server (aiosmtpd, `scripts/smtp-sink.py`) receives them, an SMTP server that is down
//! leaves them queued and retried, two senders at once send each message once, and the
//! enrollment page and its single-use link work.

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

use keyward_test_support::{TestDb, bin_path};
use serde_json::Value;

struct Sink {
    child: Child,
    dir: PathBuf,
}

impl Sink {
    fn start(port: u16, dir: &Path) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/smtp-sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string(), "--dir"])
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        Self {
            child,
            dir: dir.to_owned(),
        }
    }

    fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
    let db = TestDb::sqlite_file();
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
    let sink = Sink::start(smtp_port, &mail_dir);
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
