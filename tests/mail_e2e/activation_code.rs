//! `mail.include_activation_code` end to end: the code reaches the employee through a real SMTP
//! server, waits in the outbox only sealed (never in clear in the database file), never reaches
//! a log line, is dropped once the message is settled, and a message whose code became void
//! (key taken back, code replaced) is cancelled. Without a key-encryption key the option is
//! refused at load.

use std::path::{Path, PathBuf};
use std::time::Duration;

use keyward_test_support::{SmtpSink, TestDb, free_port};

use super::{Server, cli, json_ok, outbox, recipient, unfolded, wait_for_messages};

fn code_config(dir: &Path, port: u16, key_file: Option<&Path>) -> PathBuf {
    let path = dir.join(format!("code-{}.toml", key_file.is_some()));
    let mut text = format!(
        "log_level = \"debug\"\n[mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\n\
         security = \"none\"\nfrom = \"keyward <keyward@example.com>\"\nretry_base_secs = 0\n\
         send_interval_secs = 1\ninclude_activation_code = true\n"
    );
    if let Some(key_file) = key_file {
        text.push_str(&format!(
            "[secrets]\nkey_file = \"{}\"\n",
            key_file.display()
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Every byte of the SQLite database, its write-ahead log included.
fn database_bytes(db: &TestDb) -> Vec<u8> {
    let path = db
        .url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn assign(cfg: &Path, db: &str, serial: &str, email: &str) -> String {
    json_ok(&cli(
        cfg,
        db,
        &["keys", "assign", serial, "--employee", email],
    ))["activation_code"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_activation_code_is_mailed_sealed_and_only_while_it_is_live() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();

    // Without a key-encryption key the option is refused, in one line naming the keys.
    let refused = cli(
        &code_config(dir.path(), port, None),
        "sqlite::memory:",
        &["keys", "list"],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.trim().lines().count() == 1
            && stderr.contains("mail.include_activation_code")
            && stderr.contains("secrets.key_file"),
        "{stderr}"
    );

    let key_file = dir.path().join("kek");
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, "").unwrap();
    let made = cli(
        &plain,
        "sqlite::memory:",
        &["secrets", "new-key-file", key_file.to_str().unwrap()],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let cfg = code_config(dir.path(), port, Some(&key_file));
    let db = TestDb::sqlite_file().migrated();
    let url = db.url.as_str();
    for (who, serial) in [("ann", "HK-C-1"), ("bob", "HK-C-2"), ("cy", "HK-C-3")] {
        json_ok(&cli(
            &cfg,
            url,
            &[
                "employees",
                "create",
                "--email",
                &format!("{who}@example.com"),
                "--display-name",
                who,
            ],
        ));
        json_ok(&cli(&cfg, url, &["keys", "import", serial]));
    }
    // ann's code stays live. bob's key is taken back: his code is void. cy's key is taken back
    // and assigned again: the first code is void, the second live.
    let ann = assign(&cfg, url, "HK-C-1", "ann@example.com");
    let bob = assign(&cfg, url, "HK-C-2", "bob@example.com");
    json_ok(&cli(&cfg, url, &["keys", "cancel", "HK-C-2"]));
    let cy_void = assign(&cfg, url, "HK-C-3", "cy@example.com");
    json_ok(&cli(&cfg, url, &["keys", "cancel", "HK-C-3"]));
    let cy = assign(&cfg, url, "HK-C-3", "cy@example.com");
    let codes = [&ann, &bob, &cy_void, &cy];

    // In the outbox only sealed: nowhere in the database file in clear.
    let queued = outbox(url).await;
    assert_eq!(queued.len(), 4);
    for m in &queued {
        let sealed = m.sealed_activation_code.as_deref().unwrap_or_default();
        assert!(sealed.starts_with("kw1."), "{m:?}");
    }
    let bytes = database_bytes(&db);
    for code in codes {
        assert!(
            !contains(&bytes, code),
            "an activation code is in the database in clear"
        );
    }

    // The server's worker sends at debug level; its whole output is kept.
    let sink = SmtpSink::start_with(port, &dir.path().join("inbox"), &[]);
    let server = Server::start(&cfg, url, &[]);
    let received = wait_for_messages(&sink, 2);
    let mut settled = Vec::new();
    for _ in 0..100 {
        settled = outbox(url).await;
        if settled
            .iter()
            .all(|m| m.status == "sent" || m.status == "cancelled")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(received.len(), 2, "ann's and cy's live codes only");
    assert_eq!(sink.messages().len(), 2, "nothing else was sent");
    let to = |email: &str| {
        unfolded(
            received
                .iter()
                .find(|m| recipient(m) == email)
                .unwrap_or_else(|| panic!("no message to {email}")),
        )
    };
    let (ann_mail, cy_mail) = (to("ann@example.com"), to("cy@example.com"));
    assert!(
        ann_mail.contains(&format!("Its activation code is {ann}")),
        "{ann_mail}"
    );
    assert!(
        cy_mail.contains(&cy) && !cy_mail.contains(&cy_void),
        "{cy_mail}"
    );

    // Settled messages hold no sealed code any more; the void ones say why they were not sent.
    assert!(
        settled.iter().all(|m| m.sealed_activation_code.is_none()),
        "{settled:?}"
    );
    let cancelled: Vec<&str> = settled
        .iter()
        .filter(|m| m.status == "cancelled")
        .map(|m| m.last_error.as_deref().unwrap())
        .collect();
    assert_eq!(cancelled.len(), 2, "{settled:?}");
    assert!(
        cancelled.iter().any(|e| e.contains("no longer reserved")),
        "{cancelled:?}"
    );
    assert!(
        cancelled.iter().any(|e| e.contains("replaced")),
        "{cancelled:?}"
    );

    let output = server.output();
    drop(server);
    assert!(
        output.contains("mail cancelled"),
        "debug output was captured: {output}"
    );
    for code in codes {
        assert!(
            !output.contains(code.as_str()),
            "an activation code reached a log line"
        );
    }
    let bytes = database_bytes(&db);
    for code in codes {
        assert!(
            !contains(&bytes, code),
            "an activation code is in the database in clear"
        );
    }
}
