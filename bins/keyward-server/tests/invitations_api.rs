//! The invitation routes through the router (no socket): list, resend and revoke with their
//! refusals (an invitation already used, a disabled employee, an unknown or malformed id, no
//! admin token), and the enrollment link. Invitations come from a sync of a throw-away group in
//! the real Samba AD lab, and are sent to a real SMTP server.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod common;

use axum::http::StatusCode;
use keyward_directory::DirectoryConfig;
use keyward_service::{MailSettings, Settings, SmtpSecurity};
use keyward_test_support::{SmtpSink, TestDb, execute_sql, lab_fixture};
use serde_json::{Value, json};

struct Api {
    app: axum::Router,
    token: String,
}

impl Api {
    /// Calls the router; `auth` says whether the admin token goes along.
    async fn call(
        &self,
        method: &str,
        uri: &str,
        body: Option<Value>,
        auth: bool,
    ) -> (StatusCode, Value) {
        let token = auth.then_some(self.token.as_str());
        let body = body.map(|b| b.to_string());
        let (status, value, _) =
            common::send(&self.app, method, uri, token, body.as_deref(), &[]).await;
        (status, value)
    }

    async fn admin(&self, method: &str, uri: &str) -> (StatusCode, Value) {
        self.call(method, uri, None, true).await
    }

    async fn invitation(&self, email: &str) -> Value {
        let (status, all) = self.admin("GET", "/api/v1/invitations").await;
        assert_eq!(status, StatusCode::OK, "{all}");
        all.as_array()
            .unwrap()
            .iter()
            .find(|i| i["recipient"] == email)
            .unwrap_or_else(|| panic!("no invitation for {email}: {all}"))
            .clone()
    }
}

/// The link token in a received message (quoted-printable soft breaks undone).
fn link_token(message: &str) -> String {
    let message = message.replace("=\r\n", "").replace("=\n", "");
    let start = message.find("/enroll/").unwrap() + "/enroll/".len();
    message[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test]
async fn invitations_are_listed_resent_and_revoked_over_http() {
    let Some(lab) = keyward_test_support::lab() else {
        return;
    };
    let fixture = lab_fixture(&lab, 1, "invapi", &["ann", "ben", "cy"], None);
    let mail = |user: &str| format!("{user}@invapi.example.com");
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("bind-password");
    std::fs::write(&secret, format!("{}\n", lab["KWLAB_AD1_BIND_PASSWORD"])).unwrap();
    let mut corp1 = DirectoryConfig::new(
        "corp1",
        vec![lab["KWLAB_AD1_LDAPS_URL"].clone()],
        &lab["KWLAB_AD1_BIND_DN"],
    );
    corp1.ca_file = Some(lab["KWLAB_AD1_CA_CERT"].clone().into());
    corp1.bind_password_file = Some(secret);
    corp1.sync_group.clone_from(&fixture.group_dn);
    corp1.invite_new_employees = true;
    let sink = SmtpSink::start(&dir.path().join("inbox"));
    let db = TestDb::sqlite_file();
    let settings = Settings {
        database_url: db.url.clone(),
        directories: vec![corp1],
        mail: MailSettings {
            smtp_host: "127.0.0.1".into(),
            smtp_port: sink.port,
            security: SmtpSecurity::None,
            ..MailSettings::default()
        },
        ..Settings::default()
    };
    let (keyward, token) = common::open_with_admin_token(&settings).await;
    let api = Api {
        app: keyward_server::app(keyward.clone()),
        token,
    };

    // Without the admin token nothing is listed or changed.
    for (method, uri) in [
        ("GET", "/api/v1/invitations".to_owned()),
        (
            "POST",
            format!("/api/v1/invitations/{}/revoke", uuid::Uuid::nil()),
        ),
    ] {
        let (status, body) = api.call(method, &uri, None, false).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}: {body}");
    }

    // A sync invites the group; the list shows the invitations queued, then sent.
    let (status, run) = api
        .call(
            "POST",
            "/api/v1/directories/corp1/sync",
            Some(json!({})),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let (_, all) = api.admin("GET", "/api/v1/invitations").await;
    let mut to: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["recipient"].as_str().unwrap())
        .collect();
    to.sort_unstable();
    assert_eq!(to, [mail("ann"), mail("ben"), mail("cy")]);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|i| i["state"] == "queued"),
        "{all}"
    );
    assert_eq!(keyward.mail().send_due().await.unwrap().sent, 3);
    let ann = api.invitation(&mail("ann")).await;
    assert_eq!(
        (&ann["state"], &ann["attempts"]),
        (&json!("sent"), &json!(1)),
        "{ann}"
    );
    let messages = sink.messages();
    let token_of = |email: &str| {
        link_token(
            messages
                .iter()
                .find(|m| m.contains(&format!("X-Envelope-To: {email}")))
                .unwrap(),
        )
    };

    // ann uses her link: her invitation can be neither revoked nor resent.
    let (status, _) = api
        .call(
            "POST",
            &format!("/enroll/{}/accept", token_of(&mail("ann"))),
            None,
            false,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let ann_id = ann["id"].as_str().unwrap();
    for op in ["revoke", "resend"] {
        let (status, body) = api
            .admin("POST", &format!("/api/v1/invitations/{ann_id}/{op}"))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{op}: {body}");
        assert_eq!(body["error"]["code"], "invitation_state", "{op}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("already used"),
            "{op}: {body}"
        );
    }
    assert_eq!(api.invitation(&mail("ann")).await["state"], "accepted");

    // ben's invitation is resent: a new expiry, queued again, and his old link stops working.
    let ben = api.invitation(&mail("ben")).await;
    let ben_id = ben["id"].as_str().unwrap();
    let ben_old = token_of(&mail("ben"));
    let (status, resent) = api
        .admin("POST", &format!("/api/v1/invitations/{ben_id}/resend"))
        .await;
    assert_eq!(status, StatusCode::OK, "{resent}");
    assert_eq!(resent["state"], "queued", "{resent}");
    assert!(
        resent["expires_at"].as_str().unwrap() >= ben["expires_at"].as_str().unwrap(),
        "{resent} {ben}"
    );
    let (status, _) = api
        .call("GET", &format!("/enroll/{ben_old}"), None, false)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Revoked: the state says so and the unsent message is cancelled, so nothing goes out.
    let (status, revoked) = api
        .admin("POST", &format!("/api/v1/invitations/{ben_id}/revoke"))
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["state"], "revoked", "{revoked}");
    assert_eq!(keyward.mail().send_due().await.unwrap().sent, 0);
    assert_eq!(sink.messages().len(), 3);

    // A disabled employee is not invited again (as a sync would disable cy).
    let cy_id = api.invitation(&mail("cy")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    execute_sql(
        &db.url,
        &format!(
            "UPDATE employees SET status = 'disabled' WHERE email = '{}'",
            mail("cy")
        ),
    )
    .await;
    let (status, body) = api
        .admin("POST", &format!("/api/v1/invitations/{cy_id}/resend"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disabled"),
        "{body}"
    );

    // Unknown and malformed ids.
    let (status, body) = api
        .admin(
            "POST",
            &format!("/api/v1/invitations/{}/revoke", uuid::Uuid::nil()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api
        .admin("POST", "/api/v1/invitations/not-an-id/resend")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}
