//! Invitations: what administrators list, resend and revoke, and what the enrollment page shows
//! and accepts for a link token.
//!
//! An invitation may have several links (a message sent again after a crash carries a second
//! one). Each works until the invitation is accepted through any of them, revoked or expired,
//! or an administrator resends it.

use chrono::{DateTime, Duration, Utc};
use keyward_model::{EmployeeStatus, NewAuditRecord};
use keyward_store::{Invitation, InvitationChange, OutboxMessage};
use uuid::Uuid;

use super::Mail;
use crate::{Actor, Error, InvitationProblem, Result};

/// An invitation with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationView {
    /// The invitation.
    pub invitation: Invitation,
    /// `queued`, `sent`, `failed`, `cancelled`, `accepted`, `expired` or `revoked`.
    pub state: &'static str,
    /// Where it goes.
    pub recipient: Option<String>,
    /// Delivery attempts of its latest message.
    pub attempts: u32,
    /// The last delivery error, or why its latest message was cancelled.
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
    /// The invitation was already used (through this link or another one).
    Used,
    /// The link expired.
    Expired,
    /// The invitation was revoked, or the link replaced by an administrator's resend.
    Unknown,
}

impl Mail<'_> {
    /// Invitations, newest first, with their state.
    pub async fn invitations(&self) -> Result<Vec<InvitationView>> {
        let now = self.ctx.clock.now();
        Ok(self
            .ctx
            .store
            .list_invitations()
            .await?
            .into_iter()
            .map(|(invitation, message)| view(invitation, message.as_ref(), now))
            .collect())
    }

    /// Queues an invitation again with a fresh expiry; its old links stop working. Refused for
    /// an invitation already used and for a disabled employee or one without an e-mail.
    pub async fn resend(&self, id: &str, actor: &Actor) -> Result<InvitationView> {
        let id = parse_id(id)?;
        let inv = self
            .ctx
            .store
            .invitation(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if inv.status == "accepted" {
            return Err(already_used(id));
        }
        let employee = self
            .ctx
            .store
            .employee(inv.employee_id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if employee.status == EmployeeStatus::Disabled {
            return Err(Error::InvalidInput(format!(
                "employee {} is disabled and is not invited",
                employee.id
            )));
        }
        let email = employee.email.ok_or_else(|| {
            Error::InvalidInput(format!("employee {} has no e-mail", employee.id))
        })?;
        let now = self.ctx.clock.now();
        let expires = now + Duration::hours(i64::from(self.ctx.settings.mail.invitation_ttl_hours));
        let record = NewAuditRecord {
            actor: actor.to_string(),
            action: "invitation.resent".into(),
            subject: format!("invitation:{id}"),
            detail: serde_json::json!({
                "employee_id": employee.id.to_string(),
                "expires_at": expires,
            }),
            at: now,
        };
        match self
            .ctx
            .store
            .resend_invitation(id, email.as_str(), expires, now, &record)
            .await?
        {
            InvitationChange::Done => self.one(id).await,
            InvitationChange::AlreadyAccepted => Err(already_used(id)),
        }
    }

    /// Revokes an invitation: its links stop working and unsent messages are cancelled. An
    /// invitation already used is refused: it stays accepted.
    pub async fn revoke(&self, id: &str, actor: &Actor) -> Result<InvitationView> {
        let id = parse_id(id)?;
        let record = NewAuditRecord {
            actor: actor.to_string(),
            action: "invitation.revoked".into(),
            subject: format!("invitation:{id}"),
            detail: serde_json::json!({}),
            at: self.ctx.clock.now(),
        };
        match self.ctx.store.revoke_invitation(id, &record).await? {
            InvitationChange::Done => self.one(id).await,
            InvitationChange::AlreadyAccepted => Err(already_used(id)),
        }
    }

    /// What the enrollment page shows for a link token.
    pub async fn enroll_view(&self, token: &str) -> Result<EnrollView> {
        let Some(inv) = self
            .ctx
            .store
            .invitation_by_token_hash(&token_hash(token))
            .await?
        else {
            return Ok(EnrollView::Unknown);
        };
        let now = self.ctx.clock.now();
        match inv.status.as_str() {
            "accepted" => return Ok(EnrollView::Used),
            "revoked" => return Ok(EnrollView::Unknown),
            _ if inv.expires_at <= now => return Ok(EnrollView::Expired),
            _ => {}
        }
        let employee = self
            .ctx
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
        let payload = enroll_payload(&self.ctx.settings.mail.public_url, token, &email);
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

    /// Uses an invitation through one of its links (the authenticator app calls this after
    /// reading the QR code). Single use: afterwards every link of the invitation is used up.
    pub async fn accept(&self, token: &str) -> Result<()> {
        let unknown = || Error::NotFound {
            what: "invitation link",
            key: "(given token)".into(),
        };
        match self.enroll_view(token).await? {
            EnrollView::Valid { .. } => {}
            EnrollView::Used => return Err(link_used()),
            EnrollView::Expired => {
                return Err(Error::InvitationState {
                    invitation: None,
                    problem: InvitationProblem::Expired,
                });
            }
            EnrollView::Unknown => return Err(unknown()),
        }
        let inv = self
            .ctx
            .store
            .invitation_by_token_hash(&token_hash(token))
            .await?
            .ok_or_else(unknown)?;
        if self
            .ctx
            .store
            .accept_invitation(inv.id, self.ctx.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(link_used())
        }
    }

    async fn one(&self, id: Uuid) -> Result<InvitationView> {
        self.invitations()
            .await?
            .into_iter()
            .find(|v| v.invitation.id == id)
            .ok_or_else(|| not_found(id))
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
        (_, Some("cancelled")) => "cancelled",
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

/// The line the QR code encodes (docs/enrollment.md). Each value is percent-encoded, so an
/// address such as `a+b&c@example.com` reads back as itself.
fn enroll_payload(public_url: &str, token: &str, email: &str) -> String {
    format!(
        "keyward-enroll:v1?server={}&token={}&email={}",
        percent_encode(public_url.trim_end_matches('/')),
        percent_encode(token),
        percent_encode(email)
    )
}

/// RFC 3986 percent-encoding of a query value: unreserved characters (letters, digits, `-`,
/// `.`, `_`, `~`) stay, every other byte of the UTF-8 text becomes `%XX`.
fn percent_encode(value: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

pub(super) fn new_token() -> Result<String> {
    Ok(crate::secrets::random_token_text()?.expose().to_owned())
}

/// SHA-256 of a link token: the only form in which it is stored.
pub(super) fn token_hash(token: &str) -> String {
    keyward_password::sha256_hex(token.as_bytes())
}

pub(super) fn parse_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id.trim())
        .map_err(|_| Error::InvalidInput(format!("{id:?} is not an id (a UUID)")))
}

fn not_found(id: Uuid) -> Error {
    Error::NotFound {
        what: "invitation",
        key: id.to_string(),
    }
}

fn already_used(id: Uuid) -> Error {
    Error::InvitationState {
        invitation: Some(id),
        problem: InvitationProblem::AlreadyUsed,
    }
}

/// A used link names no invitation: its holder is not told the invitation's id.
fn link_used() -> Error {
    Error::InvitationState {
        invitation: None,
        problem: InvitationProblem::AlreadyUsed,
    }
}

#[cfg(test)]
mod tests {
    use super::{enroll_payload, percent_encode};

    #[test]
    fn payload_values_are_percent_encoded_so_plus_and_ampersand_read_back() {
        let payload = enroll_payload("https://keyward.example.com/", "Ab-_9", "a+b&c@example.com");
        assert_eq!(
            payload,
            "keyward-enroll:v1?server=https%3A%2F%2Fkeyward.example.com&token=Ab-_9\
             &email=a%2Bb%26c%40example.com"
        );
        let query = payload.split_once('?').unwrap().1;
        let email = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("email="))
            .unwrap();
        assert_eq!(decode(email), "a+b&c@example.com");
    }

    #[test]
    fn unreserved_characters_stay_and_utf8_is_encoded_bytewise() {
        assert_eq!(percent_encode("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(percent_encode("é /?=#%"), "%C3%A9%20%2F%3F%3D%23%25");
    }

    /// A plain percent-decoder, as the authenticator app would use.
    fn decode(value: &str) -> String {
        let bytes = value.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&value[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
}
