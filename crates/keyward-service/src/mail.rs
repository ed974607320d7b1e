//! Outgoing mail: the outbox worker (claim, render, send over SMTP, record), and invitations
//! (list, resend, revoke, the enrollment page's view, accepting a link).
//!
//! An invitation's link token exists in clear only in the message being sent: a new random
//! token is made at each send and only its SHA-256 is stored, so the outbox holds no secret and a
//! resent invitation invalidates the older link.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use keyward_store::{Invitation, OutboxMessage, Store};
use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use ring::rand::{SecureRandom, SystemRandom};
use uuid::Uuid;

use crate::{Clock, Error, Result, Settings, SmtpSecurity};

/// Messages one outbox run sends at most; the next run goes on.
const MAX_PER_RUN: u32 = 500;

/// What one outbox run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Accepted by the SMTP server.
    pub sent: u32,
    /// Failed this time (queued again, or failed for good).
    pub failed: u32,
}

/// An invitation with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationView {
    /// The invitation.
    pub invitation: Invitation,
    /// `queued`, `sent`, `failed`, `accepted`, `expired` or `revoked`.
    pub state: &'static str,
    /// Where it goes.
    pub recipient: Option<String>,
    /// Delivery attempts of its latest message.
    pub attempts: u32,
    /// The last delivery error.
    pub last_error: Option<String>,
}

/// What the enrollment page shows for a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollView {
    /// A valid link.
    Valid {
        /// The person's name.
        display_name: String,
        /// The person's e-mail.
        email: String,
        /// The QR code (SVG) of `payload`.
        qr_svg: String,
        /// What the authenticator app reads (documented in docs/enrollment.md).
        payload: String,
        /// When the link stops working.
        expires_at: DateTime<Utc>,
    },
    /// The link was already used.
    Used,
    /// The link expired.
    Expired,
    /// The invitation was revoked or the link replaced by a newer one.
    Unknown,
}

/// Mail operations.
#[derive(Clone, Copy)]
pub struct Mail<'a> {
    store: &'a Store,
    settings: &'a Settings,
    clock: &'a dyn Clock,
}

impl std::fmt::Debug for Mail<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail").finish_non_exhaustive()
    }
}

impl<'a> Mail<'a> {
    pub(crate) fn new(store: &'a Store, settings: &'a Settings, clock: &'a dyn Clock) -> Self {
        Self {
            store,
            settings,
            clock,
        }
    }

    /// Sends every due message once. Messages stay queued (with back-off) when the server is
    /// down, and are marked failed after `mail.max_attempts`.
    pub async fn send_due(&self) -> Result<SendReport> {
        self.send_due_while(&|| true).await
    }

    /// [`Mail::send_due`], stopping before the next message once `keep_going` says no (a server
    /// shutting down finishes the message in hand and leaves the rest queued, so a restart
    /// sends each message once). Messages are claimed one at a time: a sender that dies holds
    /// at most one, for `mail.claim_secs`.
    pub async fn send_due_while(
        &self,
        keep_going: &(dyn Fn() -> bool + Sync),
    ) -> Result<SendReport> {
        let mail = &self.settings.mail;
        if mail.smtp_host.is_empty() {
            return Err(Error::Config("mail is off: set mail.smtp_host".into()));
        }
        let transport = self.transport()?;
        let claim = Duration::seconds(i64::try_from(mail.claim_secs).unwrap_or(60));
        let mut report = SendReport::default();
        // A message that failed in this run is due again only in a later run.
        let mut attempted: Vec<Uuid> = Vec::new();
        while keep_going() && report.sent + report.failed < MAX_PER_RUN {
            let now = self.clock.now();
            let Some(message) = self
                .store
                .claim_due_messages(now, now + claim, 1, &attempted)
                .await?
                .pop()
            else {
                break;
            };
            attempted.push(message.id);
            match self.deliver(&transport, &message).await {
                Ok(()) => {
                    self.store
                        .mark_message_sent(message.id, self.clock.now())
                        .await?;
                    report.sent += 1;
                }
                Err(e) => {
                    let attempts = message.attempts + 1;
                    let give_up = attempts >= mail.max_attempts;
                    let backoff = mail
                        .retry_base_secs
                        .saturating_mul(1u64 << attempts.saturating_sub(1).min(20))
                        .min(3600);
                    let retry_at = self.clock.now()
                        + Duration::seconds(i64::try_from(backoff).unwrap_or(3600));
                    tracing::warn!(message = %message.id, to = %message.recipient, attempts, give_up, error = %e, "mail not delivered");
                    self.store
                        .mark_message_failed(message.id, &e.to_string(), retry_at, give_up)
                        .await?;
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    /// Invitations, newest first, with their state.
    pub async fn invitations(&self) -> Result<Vec<InvitationView>> {
        let now = self.clock.now();
        Ok(self
            .store
            .list_invitations()
            .await?
            .into_iter()
            .map(|(invitation, message)| view(invitation, message.as_ref(), now))
            .collect())
    }

    /// Queues an invitation again with a fresh expiry; the old link stops working.
    pub async fn resend(&self, id: &str) -> Result<InvitationView> {
        let id = parse_id(id)?;
        let inv = self
            .store
            .invitation(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if inv.status == "accepted" {
            return Err(Error::InvalidTransition(format!(
                "invitation {id} was already used"
            )));
        }
        let employee = self
            .store
            .employee(inv.employee_id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let email = employee.email.ok_or_else(|| {
            Error::InvalidInput(format!("employee {} has no e-mail", employee.id))
        })?;
        let now = self.clock.now();
        let expires = now + Duration::hours(i64::from(self.settings.mail.invitation_ttl_hours));
        self.store
            .resend_invitation(id, email.as_str(), expires, now)
            .await?;
        self.one(id).await
    }

    /// Revokes an invitation: its link stops working and unsent messages are cancelled.
    pub async fn revoke(&self, id: &str) -> Result<InvitationView> {
        let id = parse_id(id)?;
        self.store.revoke_invitation(id).await?;
        self.one(id).await
    }

    /// What the enrollment page shows for a link token.
    pub async fn enroll_view(&self, token: &str) -> Result<EnrollView> {
        let Some(inv) = self
            .store
            .invitation_by_token_hash(&token_hash(token))
            .await?
        else {
            return Ok(EnrollView::Unknown);
        };
        let now = self.clock.now();
        match inv.status.as_str() {
            "accepted" => return Ok(EnrollView::Used),
            "revoked" => return Ok(EnrollView::Unknown),
            _ if inv.expires_at <= now => return Ok(EnrollView::Expired),
            _ => {}
        }
        let employee = self
            .store
            .employee(inv.employee_id)
            .await?
            .ok_or(Error::NotFound {
                what: "employee",
                key: inv.employee_id.to_string(),
            })?;
        let email = employee
            .email
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default();
        let payload = format!(
            "keyward-enroll:v1?server={}&token={token}&email={}",
            self.settings.mail.public_url.trim_end_matches('/'),
            email
        );
        let qr = qrcode::QrCode::new(payload.as_bytes()).map_err(|e| Error::Internal {
            source: Box::new(e),
        })?;
        let qr_svg = qr
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(240, 240)
            .build();
        Ok(EnrollView::Valid {
            display_name: employee.display_name.as_str().to_owned(),
            email,
            qr_svg,
            payload,
            expires_at: inv.expires_at,
        })
    }

    /// Uses a link (the authenticator app calls this after reading the QR code). Single use.
    pub async fn accept(&self, token: &str) -> Result<()> {
        match self.enroll_view(token).await? {
            EnrollView::Valid { .. } => {}
            EnrollView::Used => {
                return Err(Error::InvalidTransition(
                    "this invitation link was already used".into(),
                ));
            }
            EnrollView::Expired => {
                return Err(Error::InvalidTransition(
                    "this invitation link has expired; ask for a new one".into(),
                ));
            }
            EnrollView::Unknown => {
                return Err(Error::NotFound {
                    what: "invitation link",
                    key: "(given token)".into(),
                });
            }
        }
        let inv = self
            .store
            .invitation_by_token_hash(&token_hash(token))
            .await?
            .ok_or(Error::NotFound {
                what: "invitation link",
                key: "(given token)".into(),
            })?;
        if self
            .store
            .accept_invitation(inv.id, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(Error::InvalidTransition(
                "this invitation link was already used".into(),
            ))
        }
    }

    async fn one(&self, id: Uuid) -> Result<InvitationView> {
        self.invitations()
            .await?
            .into_iter()
            .find(|v| v.invitation.id == id)
            .ok_or_else(|| not_found(id))
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>> {
        let mail = &self.settings.mail;
        let tls_parameters = || -> Result<TlsParameters> {
            let mut builder = TlsParameters::builder(mail.smtp_host.clone());
            if let Some(ca) = &mail.ca_file {
                let pem = std::fs::read(ca)
                    .map_err(|e| Error::Config(format!("mail.ca_file {}: {e}", ca.display())))?;
                let cert = lettre::transport::smtp::client::Certificate::from_pem(&pem)
                    .map_err(|e| Error::Config(format!("mail.ca_file {}: {e}", ca.display())))?;
                builder = builder.add_root_certificate(cert);
            }
            builder
                .build_rustls()
                .map_err(|e| Error::Config(format!("mail TLS: {e}")))
        };
        let tls = match mail.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::Starttls => Tls::Required(tls_parameters()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(mail.smtp_host.clone())
                .port(mail.smtp_port)
                .tls(tls)
                .timeout(Some(std::time::Duration::from_secs(30)));
        if let (Some(user), Some(var)) = (&mail.username, &mail.password_env) {
            let password = std::env::var(var).map_err(|_| {
                Error::Config(format!(
                    "the environment variable {var} (mail.password_env) is not set"
                ))
            })?;
            builder = builder.credentials(
                lettre::transport::smtp::authentication::Credentials::new(user.clone(), password),
            );
        }
        Ok(builder.build())
    }

    async fn deliver(
        &self,
        transport: &AsyncSmtpTransport<Tokio1Executor>,
        message: &OutboxMessage,
    ) -> Result<()> {
        let employee = self
            .store
            .employee(message.employee_id)
            .await?
            .ok_or(Error::NotFound {
                what: "employee",
                key: message.employee_id.to_string(),
            })?;
        let name = employee.display_name.as_str().to_owned();
        let (subject, text, html) = if message.kind == "invitation" {
            let id = parse_id(&message.subject_ref)?;
            let inv = self
                .store
                .invitation(id)
                .await?
                .ok_or_else(|| not_found(id))?;
            let token = new_token()?;
            self.store
                .set_invitation_token(id, &token_hash(&token))
                .await?;
            let link = format!(
                "{}/enroll/{token}",
                self.settings.mail.public_url.trim_end_matches('/')
            );
            let values = [
                ("name", name.as_str()),
                ("email", message.recipient.as_str()),
                ("link", link.as_str()),
                (
                    "expires",
                    &inv.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                ),
                ("serial", ""),
                ("account", ""),
            ];
            (
                "Your invitation to enroll a security key".to_owned(),
                self.render("invitation.txt", DEFAULT_INVITATION_TXT, &values),
                self.render("invitation.html", DEFAULT_INVITATION_HTML, &values),
            )
        } else {
            self.notice(message, &name)
        };
        let from: Mailbox = self
            .settings
            .mail
            .from
            .parse()
            .map_err(|e| Error::Config(format!("mail.from: {e}")))?;
        let to: Mailbox = message
            .recipient
            .parse()
            .map_err(|e| Error::InvalidInput(format!("recipient {}: {e}", message.recipient)))?;
        let email = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{}@keyward>", message.id)))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| Error::Internal {
                source: Box::new(e),
            })?;
        let _ = ContentType::TEXT_PLAIN;
        transport.send(email).await.map(|_| ()).map_err(|e| {
            Error::InvalidInput(format!(
                "SMTP {}:{}: {e}",
                self.settings.mail.smtp_host, self.settings.mail.smtp_port
            ))
        })
    }

    /// Subject, text and HTML of a notification (rotation committed, key assigned).
    fn notice(&self, message: &OutboxMessage, name: &str) -> (String, String, String) {
        if message.kind == "password_rotated" {
            let values = [
                ("name", name),
                ("email", message.recipient.as_str()),
                ("link", ""),
                ("expires", ""),
                ("serial", ""),
                ("account", message.subject_ref.as_str()),
            ];
            (
                format!(
                    "The password of your account {} was changed",
                    message.subject_ref
                ),
                self.render("password_rotated.txt", DEFAULT_ROTATED_TXT, &values),
                self.render("password_rotated.html", DEFAULT_ROTATED_HTML, &values),
            )
        } else {
            let values = [
                ("name", name),
                ("email", message.recipient.as_str()),
                ("link", ""),
                ("expires", ""),
                ("serial", message.subject_ref.as_str()),
                ("account", ""),
            ];
            (
                format!(
                    "A security key was assigned to you ({})",
                    message.subject_ref
                ),
                self.render("key_assigned.txt", DEFAULT_KEY_TXT, &values),
                self.render("key_assigned.html", DEFAULT_KEY_HTML, &values),
            )
        }
    }

    fn render(&self, file: &str, default: &str, values: &[(&str, &str)]) -> String {
        let template = self
            .settings
            .mail
            .templates_dir
            .as_ref()
            .and_then(|dir| std::fs::read_to_string(dir.join(file)).ok())
            .unwrap_or_else(|| default.to_owned());
        let html = std::path::Path::new(file)
            .extension()
            .is_some_and(|e| e == "html");
        values.iter().fold(template, |text, (key, value)| {
            let value = if html {
                escape_html(value)
            } else {
                (*value).to_owned()
            };
            text.replace(&format!("{{{{{key}}}}}"), &value)
        })
    }
}

fn view(
    invitation: Invitation,
    message: Option<&OutboxMessage>,
    now: DateTime<Utc>,
) -> InvitationView {
    let state = match (
        invitation.status.as_str(),
        message.map(|m| m.status.as_str()),
    ) {
        ("revoked", _) => "revoked",
        ("accepted", _) => "accepted",
        _ if invitation.expires_at <= now => "expired",
        (_, Some("sent")) => "sent",
        (_, Some("failed")) => "failed",
        _ => "queued",
    };
    InvitationView {
        state,
        recipient: message.map(|m| m.recipient.clone()),
        attempts: message.map_or(0, |m| m.attempts),
        last_error: message.and_then(|m| m.last_error.clone()),
        invitation,
    }
}

fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Internal {
            source: "the system random number generator failed".into(),
        })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a link token: the only form in which it is stored.
pub(crate) fn token_hash(token: &str) -> String {
    keyward_password::sha256_hex(token.as_bytes())
}

fn parse_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id.trim())
        .map_err(|_| Error::InvalidInput(format!("{id:?} is not an id (a UUID)")))
}

fn not_found(id: Uuid) -> Error {
    Error::NotFound {
        what: "invitation",
        key: id.to_string(),
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const DEFAULT_INVITATION_TXT: &str = "Hello {{name}},\n\nYou are invited to enroll your security key.\nOpen this link (it works once, until {{expires}}):\n\n{{link}}\n\nIf you did not expect this message, ignore it.\n";
const DEFAULT_INVITATION_HTML: &str = "<p>Hello {{name}},</p><p>You are invited to enroll your security key.</p><p><a href=\"{{link}}\">Open your invitation</a> (it works once, until {{expires}}).</p><p>If you did not expect this message, ignore it.</p>";
const DEFAULT_KEY_TXT: &str = "Hello {{name}},\n\nThe security key {{serial}} was assigned to you. Your administrator will give you its activation code.\n";
const DEFAULT_KEY_HTML: &str = "<p>Hello {{name}},</p><p>The security key <b>{{serial}}</b> was assigned to you. Your administrator will give you its activation code.</p>";
const DEFAULT_ROTATED_TXT: &str = "Hello {{name}},\n\nThe password of your domain account {{account}} was changed and is now on your security key. You do not need to know it: sign in with your key.\n\nIf you did not expect this, tell your administrator.\n";
const DEFAULT_ROTATED_HTML: &str = "<p>Hello {{name}},</p><p>The password of your domain account <b>{{account}}</b> was changed and is now on your security key. You do not need to know it: sign in with your key.</p><p>If you did not expect this, tell your administrator.</p>";
