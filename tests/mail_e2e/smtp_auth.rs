//! The SMTP login (`mail.username`, `mail.password_env`) end to end against a real SMTP server
//! that requires AUTH after STARTTLS: the right password delivers; a wrong one leaves the
//! message queued with an error that says authentication failed; an unset or empty variable is
//! a configuration error naming it and sends nothing. The password never appears in an error,
//! in the CLI's output or in the server's log, even at debug level.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use keyward_test_support::{SmtpSink, TestDb, bin_path, free_port};

use super::{
    Server, json_ok, outbox, queue_key_notices, recipient, self_signed_cert, wait_for_messages,
};

const USER: &str = "keyward-mailer";
/// The variable `mail.password_env` names.
const VAR: &str = "KWM_SMTP_PASSWORD";
/// Distinctive values, so that finding one in some output cannot be a coincidence.
const RIGHT: &str = "Right-Horse-Battery-7341";
const WRONG: &str = "Wrong-Staple-Lantern-9917";

/// A configuration logging at debug level, so that a leak at any level would show.
fn auth_config(dir: &Path, port: u16, security: &str, ca: &Path) -> PathBuf {
    let path = dir.join(format!("auth-{security}.toml"));
    std::fs::write(
        &path,
        format!(
            "log_level = \"debug\"\n[mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\n\
             security = \"{security}\"\nca_file = \"{}\"\nusername = \"{USER}\"\n\
             password_env = \"{VAR}\"\nfrom = \"keyward <keyward@example.com>\"\n\
             retry_base_secs = 0\nsend_interval_secs = 1\n",
            ca.display()
        ),
    )
    .unwrap();
    path
}

/// `keyward mail send` with the password variable set to `password`, or unset with `None`.
fn mail_send(cfg: &Path, db: &str, password: Option<&str>) -> Output {
    let mut command = Command::new(bin_path("keyward"));
    command.arg("--config").arg(cfg).args([
        "--database-url",
        db,
        "--output",
        "json",
        "mail",
        "send",
    ]);
    match password {
        Some(password) => command.env(VAR, password),
        None => command.env_remove(VAR),
    };
    command.output().unwrap()
}

/// Everything a process printed, for the leak checks.
fn printed(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_no_password(what: &str, text: &str) {
    for password in [RIGHT, WRONG] {
        assert!(
            !text.contains(password),
            "{what} contains an SMTP password: {text}"
        );
    }
}

/// A TLS SMTP sink (`sink_tls`: `starttls` or `implicit`) that requires the login
/// `USER`/`RIGHT`, and a keyward configuration (`security`) that trusts its certificate.
fn sink_with_login(dir: &Path, sink_tls: &str, security: &str) -> (SmtpSink, PathBuf) {
    let (cert, key) = self_signed_cert(dir);
    let port = free_port();
    let sink = SmtpSink::start_with_auth(
        port,
        &dir.join("inbox"),
        &[
            "--tls",
            sink_tls,
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        USER,
        RIGHT,
    );
    (sink, auth_config(dir, port, security, &cert))
}

#[tokio::test]
async fn smtp_login_delivers_with_the_right_password_and_fails_clearly_without_leaking_it() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, cfg) = sink_with_login(dir.path(), "starttls", "starttls");
    let db = TestDb::sqlite_file().migrated();
    let to = queue_key_notices(&cfg, &db.url, "auth", 1);

    // The variable is unset, then empty: the run stops before connecting, with a configuration
    // error (exit code 3) that names the variable. No attempt is spent on the message.
    for (password, problem) in [(None, "is not set"), (Some(""), "is empty")] {
        let out = mail_send(&cfg, &db.url, password);
        let text = printed(&out);
        assert_eq!(out.status.code(), Some(3), "{problem}: {text}");
        assert!(
            text.contains(VAR) && text.contains("mail.password_env") && text.contains(problem),
            "{text}"
        );
        let queued = outbox(&db.url).await;
        assert_eq!(
            (queued[0].status.as_str(), queued[0].attempts),
            ("queued", 0),
            "{queued:?}"
        );
        assert!(sink.messages().is_empty());
    }

    // The server's outbox worker says the same in its log, run after run, and sends nothing.
    let server = Server::start(&cfg, &db.url, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.output().contains(VAR) {
        assert!(
            Instant::now() < deadline,
            "no error naming {VAR}: {}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(server);
    assert!(sink.messages().is_empty());
    assert_eq!(outbox(&db.url).await[0].attempts, 0);

    // A wrong password: the server answers 535; the message stays queued for a retry with an
    // error that says what failed and which setting to check, but not the password.
    let out = mail_send(&cfg, &db.url, Some(WRONG));
    assert_no_password("the CLI's output", &printed(&out));
    let report = json_ok(&out);
    assert_eq!(
        (report["sent"].as_u64(), report["failed"].as_u64()),
        (Some(0), Some(1)),
        "{report}"
    );
    let queued = outbox(&db.url).await;
    assert_eq!(
        (queued[0].status.as_str(), queued[0].attempts),
        ("queued", 1),
        "{queued:?}"
    );
    let error = queued[0].last_error.clone().unwrap();
    assert!(
        error.contains("authentication failed")
            && error.contains("535")
            && error.contains("mail.password_env"),
        "{error}"
    );
    assert_no_password("the recorded error", &error);
    assert!(sink.messages().is_empty(), "nothing is delivered");

    // The right password, through the server's worker: delivered once, over a session that
    // logged in (the sink records the user), and nothing in the log gives the password away.
    let server = Server::start(&cfg, &db.url, &[(VAR, RIGHT)]);
    let received = wait_for_messages(&sink, 1);
    assert_eq!(received.len(), 1, "{}", server.output());
    assert_eq!(recipient(&received[0]), to[0]);
    assert!(
        received[0].contains(&format!("X-Authenticated-User: {USER}\r\n")),
        "{}",
        received[0]
    );
    assert!(received[0].contains("was assigned to you"));
    // The worker records the outcome just after the server accepted the message.
    let deadline = Instant::now() + Duration::from_secs(10);
    while outbox(&db.url).await[0].status != "sent" {
        assert!(Instant::now() < deadline, "{:?}", outbox(&db.url).await);
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = server.output();
    drop(server);
    assert_no_password("the server's log", &output);
}

/// With implicit TLS (port 465 style) the login works the same way; this is the other path in
/// the SMTP sink (aiosmtpd sees no STARTTLS there) and in keyward's transport.
#[tokio::test]
async fn smtp_login_works_over_implicit_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, cfg) = sink_with_login(dir.path(), "implicit", "tls");
    let db = TestDb::sqlite_file().migrated();
    let to = queue_key_notices(&cfg, &db.url, "implicit", 1);

    let refused = mail_send(&cfg, &db.url, Some(WRONG));
    assert_no_password("the CLI's output", &printed(&refused));
    assert_eq!(json_ok(&refused)["failed"], 1);
    assert!(sink.messages().is_empty());

    let out = mail_send(&cfg, &db.url, Some(RIGHT));
    assert_no_password("the CLI's output", &printed(&out));
    assert_eq!(json_ok(&out)["sent"], 1);
    let received = sink.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(recipient(&received[0]), to[0]);
    assert!(received[0].contains(&format!("X-Authenticated-User: {USER}\r\n")));
}
