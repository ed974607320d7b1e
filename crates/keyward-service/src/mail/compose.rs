//! What a claimed message says, or why it must not be sent any more.
//!
//! A message may wait in the outbox for hours (the SMTP server is down, a sender crashed), so
//! what it is about is checked again just before it is sent: a message about something that no
//! longer holds is cancelled with the reason, never sent. Every message needs an employee who is
//! still active and still has the address it is going to; an invitation must still be pending
//! and unexpired; an activation code must still be the live code of a key reserved to that
//! employee.

use keyward_keys::{CodeCheck, KeySerial, KeyStatus};
use keyward_model::{Employee, EmployeeStatus};
use keyward_password::SecretString;
use keyward_store::{Invitation, OutboxMessage};

use super::Mail;
use super::invitations::{new_token, parse_id, token_hash};
use super::sealed_code::open_activation_code;
use super::templates::{self, Values};
use crate::keys::code_is_live;
use crate::secrets::code_pepper;
use crate::{Error, Result};

/// A rendered message. The text and HTML hold the activation code when the message carries one,
/// so they are handed to the transport and never logged.
pub(super) struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What to do with a claimed message.
pub(super) enum Verdict {
    Send(Composed),
    /// Do not send it; the reason is recorded in the message's `last_error`.
    Cancel(String),
    /// The sender's claim ran out while it was being prepared; nothing was sent.
    ClaimLost,
}

/// Whether the activation code a message carries can still be used.
enum CarriedCode {
    Live(SecretString),
    Void(&'static str),
}

impl Mail<'_> {
    pub(super) async fn compose(&self, message: &OutboxMessage) -> Result<Verdict> {
        let Some(employee) = self.ctx.store.employee(message.employee_id).await? else {
            return Ok(Verdict::Cancel("the employee no longer exists".into()));
        };
        if let Some(reason) = undeliverable(&employee, &message.recipient) {
            return Ok(Verdict::Cancel(reason));
        }
        let name = employee.display_name.as_str();
        match message.kind.as_str() {
            "invitation" => self.invitation(message, name).await,
            "key_assigned" => self.key_assigned(message, name).await,
            _ => Ok(Verdict::Send(self.rotated(message, name)?)),
        }
    }

    /// An invitation with a new link, added to the invitation's links while the claim holds.
    async fn invitation(&self, message: &OutboxMessage, name: &str) -> Result<Verdict> {
        let id = parse_id(&message.subject_ref)?;
        let Some(inv) = self.ctx.store.invitation(id).await? else {
            return Ok(Verdict::Cancel("the invitation no longer exists".into()));
        };
        let now = self.ctx.clock.now();
        if let Some(reason) = ended(&inv, now) {
            return Ok(Verdict::Cancel(reason.into()));
        }
        let claim = message.claimed_until.ok_or_else(|| Error::Internal {
            source: "a claimed message carries no claim".into(),
        })?;
        let token = new_token()?;
        if !self
            .ctx
            .store
            .add_invitation_link(id, &token_hash(&token), message.id, claim, now)
            .await?
        {
            return Ok(Verdict::ClaimLost);
        }
        let link = format!(
            "{}/enroll/{token}",
            self.ctx.settings.mail.public_url.trim_end_matches('/')
        );
        let expires = inv.expires_at.format("%Y-%m-%d %H:%M UTC").to_string();
        let values = Values {
            name,
            email: &message.recipient,
            link: &link,
            expires: &expires,
            ..Values::default()
        };
        Ok(Verdict::Send(Composed {
            subject: "Your invitation to enroll a security key".into(),
            text: self.render(templates::INVITATION_TXT, &values)?,
            html: self.render(templates::INVITATION_HTML, &values)?,
        }))
    }

    /// A key notification, with the activation code when it carries a live one.
    async fn key_assigned(&self, message: &OutboxMessage, name: &str) -> Result<Verdict> {
        let code = match &message.sealed_activation_code {
            None => None,
            Some(sealed) => match self.carried_code(message, sealed).await? {
                CarriedCode::Live(code) => Some(code),
                CarriedCode::Void(reason) => return Ok(Verdict::Cancel(reason.into())),
            },
        };
        let values = Values {
            name,
            email: &message.recipient,
            serial: &message.subject_ref,
            activation_code: code.as_ref().map_or("", SecretString::expose),
            ..Values::default()
        };
        // The built-in templates mention the code only when there is one to give (a
        // `key_assigned.*` file replaces both).
        let (text, html) = if code.is_some() {
            (templates::KEY_WITH_CODE_TXT, templates::KEY_WITH_CODE_HTML)
        } else {
            (templates::KEY_TXT, templates::KEY_HTML)
        };
        Ok(Verdict::Send(Composed {
            subject: format!(
                "A security key was assigned to you ({})",
                message.subject_ref
            ),
            text: self.render(text, &values)?,
            html: self.render(html, &values)?,
        }))
    }

    /// Opens the code a key notification carries if it can still activate the key: the key is
    /// still Reserved to the employee and the code is still its live, unexpired code.
    async fn carried_code(&self, message: &OutboxMessage, sealed: &str) -> Result<CarriedCode> {
        let serial = KeySerial::parse(&message.subject_ref)?;
        let reserved_to_them = self.ctx.store.key(&serial).await?.is_some_and(|key| {
            key.status == KeyStatus::Reserved && key.employee_id == Some(message.employee_id)
        });
        if !reserved_to_them {
            return Ok(CarriedCode::Void(
                "the key is no longer reserved to this employee: the activation code is void",
            ));
        }
        let Some(stored) = self.ctx.store.activation_code(&serial).await? else {
            return Ok(CarriedCode::Void("the key has no live activation code"));
        };
        let kek = self.ctx.kek.get(self.ctx.settings, self.ctx.store).await?;
        let code = open_activation_code(&kek, sealed, message.id, serial.as_str())?;
        let policy = self.ctx.settings.activation_code_policy()?;
        let pepper = code_pepper(self.ctx.kek, self.ctx.settings, self.ctx.store).await?;
        // A check, not an attempt: nothing is counted. It tells a code replaced since (the key
        // was taken back and assigned again) from the live one.
        let verdict = code_is_live(
            &stored,
            &policy,
            code.expose(),
            pepper,
            self.ctx.clock.now(),
        )
        .await?;
        Ok(match verdict {
            CodeCheck::Accepted => CarriedCode::Live(code),
            CodeCheck::Expired => CarriedCode::Void("the activation code expired"),
            CodeCheck::Wrong { .. } | CodeCheck::Exhausted => {
                CarriedCode::Void("the activation code was replaced by a newer one")
            }
        })
    }

    /// A password rotation notice (never the password).
    fn rotated(&self, message: &OutboxMessage, name: &str) -> Result<Composed> {
        let values = Values {
            name,
            email: &message.recipient,
            account: &message.subject_ref,
            ..Values::default()
        };
        Ok(Composed {
            subject: format!(
                "The password of your account {} was changed",
                message.subject_ref
            ),
            text: self.render(templates::ROTATED_TXT, &values)?,
            html: self.render(templates::ROTATED_HTML, &values)?,
        })
    }

    /// Renders the template `name` of the installation's templates (loaded and checked on
    /// first use).
    fn render(&self, name: &str, values: &Values<'_>) -> Result<String> {
        self.templates()?.render(name, values)
    }
}

/// Why a message must not go to `recipient` any more, if it must not.
fn undeliverable(employee: &Employee, recipient: &str) -> Option<String> {
    match &employee.email {
        _ if employee.status == EmployeeStatus::Disabled => Some("the employee is disabled".into()),
        None => Some("the employee no longer has an e-mail address".into()),
        Some(email) if email.as_str() != recipient => Some(format!(
            "the employee's e-mail address is no longer {recipient}"
        )),
        Some(_) => None,
    }
}

/// Why an invitation's message must not be sent, if it must not.
fn ended(inv: &Invitation, now: chrono::DateTime<chrono::Utc>) -> Option<&'static str> {
    match inv.status.as_str() {
        "revoked" => Some("the invitation was revoked"),
        "accepted" => Some("the invitation was already used"),
        _ if inv.expires_at <= now => Some("the invitation expired"),
        _ => None,
    }
}
