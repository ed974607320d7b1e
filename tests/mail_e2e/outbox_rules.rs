//! Outbox rules end to end: a message that cannot be delivered is retried, then given up as
//! `failed` after `mail.max_attempts` and never sent afterwards; templates from
//! `mail.templates_dir` replace the built-in ones, and a broken one sends nothing.

use std::path::{Path, PathBuf};

use keyward_test_support::{SmtpSink, TestDb, free_port};

use super::{cli, json_ok, outbox, queue_key_notices, recipient, unfolded};

fn config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let path = dir.join(format!("rules-{port}.toml"));
    std::fs::write(
        &path,
        format!(
            "[mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsecurity = \"none\"\n\
             from = \"keyward <keyward@example.com>\"\nretry_base_secs = 0\n{extra}"
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn a_message_is_given_up_after_max_attempts_and_never_sent_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on the port: every attempt fails.
    let port = free_port();
    let cfg = config(dir.path(), port, "max_attempts = 2\n");
    let db = TestDb::sqlite_file().migrated();
    let to = queue_key_notices(&cfg, &db.url, "giveup", 1);

    let first = json_ok(&cli(&cfg, &db.url, &["mail", "send"]));
    assert_eq!(first["failed"], 1, "{first}");
    let after_one = outbox(&db.url).await;
    assert_eq!(
        (after_one[0].status.as_str(), after_one[0].attempts),
        ("queued", 1),
        "retried while attempts remain"
    );
    let second = json_ok(&cli(&cfg, &db.url, &["mail", "send"]));
    assert_eq!(second["failed"], 1, "{second}");
    let given_up = outbox(&db.url).await;
    assert_eq!(
        (given_up[0].status.as_str(), given_up[0].attempts),
        ("failed", 2),
        "{given_up:?}"
    );
    assert!(
        given_up[0].last_error.as_deref().unwrap().contains("SMTP"),
        "{given_up:?}"
    );

    // The server comes back: a message given up is not sent.
    let sink = SmtpSink::start_with(port, &dir.path().join("inbox"), &[]);
    let later = json_ok(&cli(&cfg, &db.url, &["mail", "send"]));
    assert_eq!(
        (&later["sent"], &later["failed"]),
        (&0.into(), &0.into()),
        "{later}"
    );
    assert!(sink.messages().is_empty());
    assert_eq!(outbox(&db.url).await[0].status, "failed");
    assert_eq!(given_up[0].recipient, to[0]);
}

#[tokio::test]
async fn templates_from_the_templates_dir_replace_the_built_in_ones() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(
        templates.join("key_assigned.txt"),
        "Custom notice for {{name}}: key {{serial}} ({{email}}).\n",
    )
    .unwrap();
    std::fs::write(
        templates.join("key_assigned.html"),
        "<p>Custom HTML for {{name}} &amp; key {{serial}}</p>",
    )
    .unwrap();
    let sink = SmtpSink::start(&dir.path().join("inbox"));
    let cfg = config(
        dir.path(),
        sink.port,
        &format!("templates_dir = \"{}\"\n", templates.display()),
    );
    let db = TestDb::sqlite_file().migrated();
    json_ok(&cli(
        &cfg,
        &db.url,
        &[
            "employees",
            "create",
            "--email",
            "tess@example.com",
            "--display-name",
            "Tess <T&T>",
        ],
    ));
    json_ok(&cli(&cfg, &db.url, &["keys", "import", "HK-TPL-1"]));
    json_ok(&cli(
        &cfg,
        &db.url,
        &[
            "keys",
            "assign",
            "HK-TPL-1",
            "--employee",
            "tess@example.com",
        ],
    ));
    let report = json_ok(&cli(&cfg, &db.url, &["mail", "send"]));
    assert_eq!(report["sent"], 1, "{report}");
    let received = sink.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(recipient(&received[0]), "tess@example.com");
    let message = unfolded(&received[0]);
    assert!(
        message.contains("Custom notice for Tess <T&T>: key HK-TPL-1 (tess@example.com)."),
        "{message}"
    );
    // In HTML the values are escaped; the template's own markup is kept.
    assert!(
        message.contains("Custom HTML for Tess &lt;T&amp;T&gt; &amp; key HK-TPL-1"),
        "{message}"
    );
    assert!(
        !message.contains("Your administrator will give you"),
        "{message}"
    );
}

#[tokio::test]
async fn a_broken_template_sends_nothing_and_uses_no_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    let broken = templates.join("key_assigned.txt");
    std::fs::write(&broken, "Hello {{ name }, key {{ serial }}\n").unwrap();
    let sink = SmtpSink::start(&dir.path().join("inbox"));
    let cfg = config(
        dir.path(),
        sink.port,
        &format!("templates_dir = \"{}\"\n", templates.display()),
    );
    let db = TestDb::sqlite_file().migrated();
    queue_key_notices(&cfg, &db.url, "tplbroken", 1);
    let out = cli(&cfg, &db.url, &["mail", "send"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&broken.display().to_string()) && stderr.contains("syntax error"),
        "{stderr}"
    );
    let queued = outbox(&db.url).await;
    assert_eq!(
        (queued[0].status.as_str(), queued[0].attempts),
        ("queued", 0),
        "{queued:?}"
    );
    assert!(sink.messages().is_empty());

    // Fixed, the same message goes.
    std::fs::write(&broken, "Hello {{ name }}, key {{ serial }}\n").unwrap();
    let report = json_ok(&cli(&cfg, &db.url, &["mail", "send"]));
    assert_eq!(report["sent"], 1, "{report}");
}
