//! Invitation links end to end: a copy sent again after a crash keeps the first copy's link
//! working, either copy's link uses the invitation up for both, and a message about what no
//! longer holds (a disabled employee, a lost address, an expired or used invitation) is
//! cancelled with the reason instead of sent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use keyward_test_support::{LabFixture, SmtpSink, TestDb, execute_sql, free_port, lab_fixture};
use serde_json::Value;

use super::{Server, json_ok, keyward, link_token, recipient};

fn fixture_config(
    dir: &Path,
    lab: &HashMap<String, String>,
    fixture: &LabFixture,
    smtp_port: u16,
) -> PathBuf {
    let path = dir.join("links.toml");
    let text = format!(
        "[mail]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {smtp_port}\nsecurity = \"none\"\n\
         from = \"keyward <keyward@example.com>\"\npublic_url = \"https://keyward.example.com\"\n\
         retry_base_secs = 0\nsend_interval_secs = 3600\n\n\
         [[directories]]\nname = \"corp2\"\nurls = [\"{}\"]\nca_file = \"{}\"\nbind_dn = \"{}\"\n\
         bind_password_env = \"KWM_CORP2\"\nsync_group = \"{}\"\ninvite_new_employees = true\n",
        lab["KWLAB_AD2_LDAPS_URL"],
        lab["KWLAB_AD2_CA_CERT"],
        lab["KWLAB_AD2_BIND_DN"],
        fixture.group_dn
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn by_recipient<'a>(invitations: &'a Value, email: &str) -> &'a Value {
    invitations
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["recipient"] == email)
        .unwrap_or_else(|| panic!("no invitation for {email}: {invitations}"))
}

/// Puts the message to `email` back in the state a sender leaves when it dies after the SMTP
/// server took the message and before it recorded that: claimed, with the claim run out.
async fn sender_died_after_smtp(db: &str, email: &str) {
    execute_sql(
        db,
        &format!(
            "UPDATE outbox SET status = 'sending', claimed_until = created_at, sent_at = NULL \
             WHERE recipient = '{email}'"
        ),
    )
    .await;
}

async fn status(http: &reqwest::Client, url: String) -> u16 {
    http.get(url).send().await.unwrap().status().as_u16()
}

async fn accept(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    http.post(format!("{base}/enroll/{token}/accept"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_copy_sent_again_after_a_crash_keeps_its_link_and_stale_messages_are_cancelled() {
    let Some(lab) = keyward_test_support::lab() else {
        return;
    };
    let fixture = lab_fixture(&lab, 2, "mlinks", &["ann", "ben", "cy", "dee", "eve"], None);
    let mail = |user: &str| format!("{user}@mlinks.example.com");
    let db = TestDb::sqlite_file().migrated();
    let url = db.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let smtp_port = free_port();
    let cfg = fixture_config(dir.path(), &lab, &fixture, smtp_port);
    json_ok(&keyward(&lab, &cfg, url, &["sync", "corp2"]));
    let queued = json_ok(&keyward(&lab, &cfg, url, &["invitations", "list"]));
    assert_eq!(queued.as_array().unwrap().len(), 5, "{queued}");

    // While the invitations wait: ben is disabled, cy loses the address, dee's expires. (What a
    // sync or time does, arranged directly: those paths are tested on their own.)
    execute_sql(
        url,
        &format!(
            "UPDATE employees SET status = 'disabled' WHERE email = '{}'",
            mail("ben")
        ),
    )
    .await;
    execute_sql(
        url,
        &format!(
            "UPDATE employees SET email = NULL WHERE email = '{}'",
            mail("cy")
        ),
    )
    .await;
    execute_sql(
        url,
        &format!(
            "UPDATE invitations SET expires_at = created_at WHERE employee_id = \
             (SELECT id FROM employees WHERE email = '{}')",
            mail("dee")
        ),
    )
    .await;

    let sink = SmtpSink::start_with(smtp_port, &dir.path().join("mail"), &[]);
    let report = json_ok(&keyward(&lab, &cfg, url, &["mail", "send"]));
    assert_eq!(
        (&report["sent"], &report["cancelled"], &report["failed"]),
        (&Value::from(2), &Value::from(3), &Value::from(0)),
        "{report}"
    );
    let mut to: Vec<String> = sink.messages().iter().map(|m| recipient(m)).collect();
    to.sort();
    assert_eq!(to, [mail("ann"), mail("eve")]);
    let listed = json_ok(&keyward(&lab, &cfg, url, &["invitations", "list"]));
    for (user, state, reason) in [
        ("ben", "cancelled", "the employee is disabled"),
        ("cy", "cancelled", "no longer has an e-mail address"),
        ("dee", "expired", "the invitation expired"),
    ] {
        let i = by_recipient(&listed, &mail(user));
        assert_eq!(i["state"], state, "{i}");
        assert!(
            i["last_error"].as_str().unwrap().contains(reason),
            "{user}: {i}"
        );
    }

    // ann's sender died after the SMTP server took her message: it is sent again with the same
    // Message-ID and a new link, and both copies' links work.
    sender_died_after_smtp(url, &mail("ann")).await;
    let report = json_ok(&keyward(&lab, &cfg, url, &["mail", "send"]));
    assert_eq!(report["sent"], 1, "{report}");
    let messages = sink.messages();
    let ann: Vec<&String> = messages
        .iter()
        .filter(|m| recipient(m) == mail("ann"))
        .collect();
    assert_eq!(ann.len(), 2);
    assert_eq!(
        super::message_id(ann[0]),
        super::message_id(ann[1]),
        "the copy carries the first one's Message-ID"
    );
    let (first, second) = (link_token(ann[0]), link_token(ann[1]));
    assert_ne!(first, second);
    let server = Server::start(&cfg, url, &[("KWM_CORP2", &lab["KWLAB_AD2_BIND_PASSWORD"])]);
    let base = server.base.clone();
    let http = reqwest::Client::new();
    for token in [&first, &second] {
        assert_eq!(status(&http, format!("{base}/enroll/{token}")).await, 200);
    }
    // Either copy's link uses the invitation up for both.
    assert_eq!(accept(&http, &base, &first).await, 204);
    assert_eq!(status(&http, format!("{base}/enroll/{second}")).await, 410);
    assert_eq!(accept(&http, &base, &second).await, 409);

    // eve accepts through the first copy before the crashed sender's copy goes again: the
    // copy is cancelled, not sent with a link that is already used.
    let eve_token = link_token(
        messages
            .iter()
            .find(|m| recipient(m) == mail("eve"))
            .unwrap(),
    );
    assert_eq!(accept(&http, &base, &eve_token).await, 204);
    sender_died_after_smtp(url, &mail("eve")).await;
    let report = json_ok(&keyward(&lab, &cfg, url, &["mail", "send"]));
    assert_eq!(
        (&report["sent"], &report["cancelled"]),
        (&Value::from(0), &Value::from(1)),
        "{report}"
    );
    assert_eq!(sink.messages().len(), 3);
    let listed = json_ok(&keyward(&lab, &cfg, url, &["invitations", "list"]));
    let eve = by_recipient(&listed, &mail("eve"));
    assert_eq!(eve["state"], "accepted", "{eve}");
    assert!(
        eve["last_error"].as_str().unwrap().contains("already used"),
        "{eve}"
    );

    // A used invitation is neither revoked nor resent.
    let ann_id = by_recipient(&listed, &mail("ann"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for op in ["revoke", "resend"] {
        let refused = keyward(&lab, &cfg, url, &["invitations", op, &ann_id]);
        assert!(!refused.status.success(), "{op}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("already used"), "{op}: {stderr}");
    }
    assert_eq!(
        by_recipient(
            &json_ok(&keyward(&lab, &cfg, url, &["invitations", "list"])),
            &mail("ann")
        )["state"],
        "accepted"
    );
    drop(server);
}
