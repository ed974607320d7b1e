//! Outgoing mail: the outbox worker (claim, check, render, send over SMTP, record), and
//! invitations (list, resend, revoke, the enrollment page's view, accepting a link).
//!
//! An invitation's link token exists in clear only in the message being sent: a new random
//! token is made at each send and only its SHA-256 is stored, so the outbox holds no usable
//! link. Every link made for an invitation works until the invitation ends (docs/enrollment.md).
//!
//! The worker records an outcome only under the claim it holds: a sender whose claim ran out is
//! told so, logs it and leaves the outcome to the sender that took the message over.
//!
//! Modules: [`compose`] decides what a message says, or why it must not be sent any more;
//! [`templates`] loads and checks the templates once and renders them; [`smtp`] builds the
//! transport; [`invitations`] holds the administrators' and the enrollment page's operations;
//! [`sealed_code`] seals the activation code a key notification may carry.

mod compose;
mod invitations;
mod sealed_code;
mod smtp;
mod templates;

use chrono::Duration;
use keyward_model::Backoff;
use keyward_store::OutboxMessage;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

pub use invitations::{EnrollView, InvitationView};
pub(crate) use sealed_code::{activation_code_context, seal_activation_code};
pub(crate) use templates::{Templates, TemplatesCell};

use self::compose::Verdict;
use crate::context::Context;
use crate::{Error, Result};

/// Loads and checks the mail templates (built-in and `mail.templates_dir`) as the server does
/// at start, without a database: a configuration error listing every broken file on one line.
pub fn check_mail_templates(mail: &crate::MailSettings) -> Result<()> {
    Templates::load(mail.templates_dir.as_deref())
        .map(|_| ())
        .map_err(|problems| Error::Config(problems.join("; ")))
}

/// Builds the SMTP transport `mail` describes without connecting: reads `mail.ca_file` and the
/// password variable (`keyward config check`).
pub(crate) fn check_smtp_settings(mail: &crate::MailSettings) -> Result<()> {
    smtp::transport(mail).map(|_| ())
}

/// Connects to the SMTP server as the worker does (EHLO, STARTTLS or TLS, login) and quits;
/// sends nothing. What answered, or the problem in one line without the server's name
/// (`keyward config check --connect`).
pub(crate) async fn test_smtp(mail: &crate::MailSettings) -> Result<String> {
    let transport = smtp::transport(mail)?;
    let limit = smtp::timeout(mail.claim_secs);
    // The caller names the server.
    let fail = Error::Config;
    match tokio::time::timeout(limit, transport.test_connection()).await {
        Ok(Ok(true)) => Ok(format!(
            "connected ({}){}",
            match mail.security {
                crate::SmtpSecurity::Starttls => "STARTTLS",
                crate::SmtpSecurity::Tls => "TLS",
                crate::SmtpSecurity::None => "NOT encrypted",
            },
            mail.username
                .as_ref()
                .map_or_else(String::new, |user| format!(", logged in as {user}"))
        )),
        Ok(Ok(false)) => Err(fail("the server did not answer NOOP".into())),
        Ok(Err(e)) if smtp::is_login_refused(&e) => Err(fail(format!(
            "authentication failed: the server refused mail.username {:?} with the password in \
             mail.password_env ({e})",
            mail.username.as_deref().unwrap_or_default()
        ))),
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(_) => Err(fail(format!("no answer within {} s", limit.as_secs()))),
    }
}

/// Messages one outbox run handles at most; the next run goes on.
const MAX_PER_RUN: u32 = 500;

/// The longest wait between delivery attempts (`mail.retry_base_secs` doubles up to it).
const MAX_RETRY_SECS: u64 = 3600;

/// What one outbox run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Accepted by the SMTP server.
    pub sent: u32,
    /// Failed this time (queued again, or failed for good).
    pub failed: u32,
    /// Not sent because what they were about no longer holds (a revoked, used or expired
    /// invitation, a disabled employee, an address the employee no longer has, a void
    /// activation code).
    pub cancelled: u32,
}

/// Mail operations.
#[derive(Clone, Copy, Debug)]
pub struct Mail<'a> {
    ctx: Context<'a>,
}

/// What became of one claimed message.
enum Outcome {
    Sent,
    Cancelled(String),
    /// The claim ran out before the message went anywhere (nothing was sent).
    ClaimLost,
}

impl<'a> Mail<'a> {
    pub(crate) fn new(ctx: Context<'a>) -> Self {
        Self { ctx }
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
        let mail = &self.ctx.settings.mail;
        if mail.smtp_host.is_empty() {
            return Err(Error::Config("mail is off: set mail.smtp_host".into()));
        }
        let transport = smtp::transport(mail)?;
        // Broken templates stop the run before a message is claimed (none uses an attempt).
        self.templates()?;
        let claim = Duration::seconds(i64::try_from(mail.claim_secs).unwrap_or(60));
        let mut report = SendReport::default();
        // A message that failed in this run is due again only in a later run.
        let mut attempted: Vec<Uuid> = Vec::new();
        while keep_going() && report.sent + report.failed + report.cancelled < MAX_PER_RUN {
            let now = self.ctx.clock.now();
            let Some(message) = self
                .ctx
                .store
                .claim_due_messages(now, now + claim, 1, &attempted)
                .await?
                .pop()
            else {
                break;
            };
            attempted.push(message.id);
            let recorded = self.handle(&transport, &message, &mut report).await?;
            if !recorded {
                tracing::warn!(
                    message = %message.id,
                    "the claim on this message ran out (mail.claim_secs) and another sender took \
                     it over; this sender's outcome was not recorded"
                );
            }
        }
        Ok(report)
    }

    /// Delivers one claimed message and records the outcome under its claim; false when the
    /// claim was lost.
    async fn handle(
        &self,
        transport: &AsyncSmtpTransport<Tokio1Executor>,
        message: &OutboxMessage,
        report: &mut SendReport,
    ) -> Result<bool> {
        let Some(claim) = message.claimed_until else {
            return Err(Error::Internal {
                source: "a claimed message carries no claim".into(),
            });
        };
        let mail = &self.ctx.settings.mail;
        match self.deliver(transport, message).await {
            Ok(Outcome::Sent) => {
                report.sent += 1;
                Ok(self
                    .ctx
                    .store
                    .mark_message_sent(message.id, claim, self.ctx.clock.now())
                    .await?)
            }
            Ok(Outcome::Cancelled(reason)) => {
                report.cancelled += 1;
                tracing::info!(message = %message.id, kind = %message.kind, %reason, "mail cancelled");
                Ok(self
                    .ctx
                    .store
                    .cancel_message(message.id, claim, &reason)
                    .await?)
            }
            Ok(Outcome::ClaimLost) => Ok(false),
            Err(e) => {
                report.failed += 1;
                let attempts = message.attempts + 1;
                let give_up = attempts >= mail.max_attempts;
                let backoff = Backoff {
                    base_secs: mail.retry_base_secs,
                    max_secs: MAX_RETRY_SECS,
                };
                let retry_at = self.ctx.clock.now() + backoff.after(attempts);
                tracing::warn!(message = %message.id, to = %message.recipient, attempts, give_up, error = %e, "mail not delivered");
                Ok(self
                    .ctx
                    .store
                    .mark_message_failed(message.id, claim, &e.to_string(), retry_at, give_up)
                    .await?)
            }
        }
    }

    /// The installation's templates, loaded and checked on first use: a broken file in
    /// `mail.templates_dir` is a configuration error naming it.
    pub(crate) fn templates(&self) -> Result<std::sync::Arc<Templates>> {
        self.ctx
            .templates
            .get(self.ctx.settings.mail.templates_dir.as_deref())
    }

    /// Loads and checks the mail templates now (the server does at start, so that a broken
    /// template file stops it with the file's name and the problem).
    pub fn check_templates(&self) -> Result<()> {
        self.templates().map(|_| ())
    }

    async fn deliver(
        &self,
        transport: &AsyncSmtpTransport<Tokio1Executor>,
        message: &OutboxMessage,
    ) -> Result<Outcome> {
        let composed = match self.compose(message).await? {
            Verdict::Send(composed) => composed,
            Verdict::Cancel(reason) => return Ok(Outcome::Cancelled(reason)),
            Verdict::ClaimLost => return Ok(Outcome::ClaimLost),
        };
        let mail = &self.ctx.settings.mail;
        let from: Mailbox = mail
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
            .subject(composed.subject)
            .message_id(Some(format!("<{}@keyward>", message.id)))
            .multipart(MultiPart::alternative_plain_html(
                composed.text,
                composed.html,
            ))
            .map_err(|e| Error::Internal {
                source: Box::new(e),
            })?;
        let smtp_error = |what: String| {
            Error::InvalidInput(format!(
                "SMTP {}:{}: {what}",
                mail.smtp_host, mail.smtp_port
            ))
        };
        // The whole exchange is bounded, not only each command, so that a sender finishes or
        // gives up well before its claim runs out and another sender takes the message over.
        let limit = smtp::timeout(mail.claim_secs);
        match tokio::time::timeout(limit, transport.send(email)).await {
            Ok(Ok(_)) => Ok(Outcome::Sent),
            // The server's own words ("5.7.8 Authentication credentials invalid") do not tell an
            // administrator which setting to fix; lettre never puts the password in an error.
            Ok(Err(e)) if smtp::is_login_refused(&e) => Err(smtp_error(format!(
                "authentication failed: the server refused mail.username {:?} with the password \
                 in mail.password_env ({e})",
                mail.username.as_deref().unwrap_or_default()
            ))),
            Ok(Err(e)) => Err(smtp_error(e.to_string())),
            Err(_) => Err(smtp_error(format!(
                "no answer within {} s",
                limit.as_secs()
            ))),
        }
    }
}
