//! Console administrators: creation with a one-time enrollment link, passkey registration and
//! sign-in (WebAuthn), sessions, disabling.
//!
//! An admin is a person (e-mail, name), not a token: the console signs them in with a passkey or
//! FIDO2 security key, and every audit record of what they do names them (`admin:<email>`).
//!
//! - **Enrollment.** `keyward admins create` stores the admin and prints a link
//!   `<console.public_url>/console/enroll/<secret>`. Only SHA-256 of the secret is stored. The
//!   link works once, for `console.enrollment_ttl_hours`; opening it shows a page, and the link
//!   is used only when a credential is registered with it (mail scanners open links too). A
//!   signed-in admin registers further credentials from the console.
//! - **Ceremonies.** A registration or sign-in is two requests: `start` stores the relying
//!   party's state (the challenge) in the database under a new id and answers the browser's
//!   options; `finish` takes (deletes) that state, so each challenge answers once, on whichever
//!   server instance the answer reaches. A ceremony lives five minutes.
//! - **Sessions.** A sign-in makes a session: a 256-bit secret for the cookie (only its SHA-256 is
//!   stored) and a CSRF token that every state-changing console request must carry. A session
//!   ends at sign-out, after `console.session_idle_minutes` without a request, after
//!   `console.session_max_hours`, or when its admin is disabled.
//!
//! What it must never do: return or log a session secret or link secret except once, to the
//! caller that created it; let a disabled admin sign in, enroll or keep a session.

mod relying_party;
mod sessions;

use chrono::{DateTime, Duration, Utc};
use keyward_model::{Admin, AdminCredential, Email, NewAuditRecord};
use keyward_password::SecretString;
use keyward_store::{NewEnrollment, Store};
use uuid::Uuid;

use crate::secrets::random_token_text;
use crate::{Actor, Clock, Credential, Error, Result, Settings};

pub use relying_party::{Challenge, console_origin};
pub use sessions::{ConsoleSession, SignedIn};

/// The path of an enrollment link under the console's address.
pub const ENROLL_PATH: &str = "/console/enroll/";

/// An admin with their registered credentials (never a public key, never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminView {
    /// The admin.
    pub admin: Admin,
    /// Their passkeys and security keys, oldest first.
    pub credentials: Vec<AdminCredential>,
}

/// Console administrator operations.
#[derive(Clone, Copy)]
pub struct Admins<'a> {
    store: &'a Store,
    settings: &'a Settings,
    clock: &'a dyn Clock,
}

impl<'a> Admins<'a> {
    pub(crate) fn new(store: &'a Store, settings: &'a Settings, clock: &'a dyn Clock) -> Self {
        Self {
            store,
            settings,
            clock,
        }
    }

    /// Creates an admin and returns the enrollment link (shown once; only its hash is kept).
    /// An e-mail already in use is a conflict.
    pub async fn create(
        &self,
        email: &str,
        name: &str,
        actor: &Actor,
    ) -> Result<(Admin, SecretString)> {
        let email = Email::parse(email)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(Error::InvalidInput(
                "an admin's name must be 1 to 200 characters, without control characters".into(),
            ));
        }
        let now = self.clock.now();
        let admin = Admin {
            id: Uuid::now_v7(),
            email,
            name: name.to_owned(),
            created_at: now,
            disabled_at: None,
        };
        let (link, hash) = self.new_link()?;
        let record = audit(
            actor,
            "admin.created",
            &admin,
            serde_json::json!({ "email": admin.email.as_str(), "name": admin.name }),
            now,
        );
        let stored = self
            .store
            .create_admin(&admin, &self.enrollment(&hash, now), &record)
            .await?;
        Ok((stored, link))
    }

    /// A new enrollment link for an active admin (a lost key, another device); earlier links
    /// keep working until used or expired.
    pub async fn link(&self, email: &str, actor: &Actor) -> Result<SecretString> {
        let admin = self.active_by_email(email).await?;
        let now = self.clock.now();
        let (link, hash) = self.new_link()?;
        let record = audit(
            actor,
            "admin.link_issued",
            &admin,
            serde_json::json!({ "email": admin.email.as_str() }),
            now,
        );
        self.store
            .add_admin_enrollment(admin.id, &self.enrollment(&hash, now), &record)
            .await?;
        Ok(link)
    }

    /// Every admin with their credentials, by e-mail.
    pub async fn list(&self) -> Result<Vec<AdminView>> {
        let mut out = Vec::new();
        for admin in self.store.list_admins().await? {
            let credentials = self
                .store
                .admin_credentials(admin.id)
                .await?
                .into_iter()
                .map(|c| c.credential)
                .collect();
            out.push(AdminView { admin, credentials });
        }
        Ok(out)
    }

    /// Disables an admin: no more sign-in or enrollment, and every session ends now.
    pub async fn disable(&self, email: &str, actor: &Actor) -> Result<Admin> {
        let email = Email::parse(email)?;
        let now = self.clock.now();
        let record = NewAuditRecord {
            actor: actor.to_string(),
            action: "admin.disabled".into(),
            subject: format!("admin:{email}"),
            detail: serde_json::json!({ "email": email.as_str() }),
            at: now,
        };
        Ok(self.store.disable_admin(&email, now, &record).await?)
    }

    /// The admin an enrollment link is for, when the link is valid (unknown, used, expired
    /// links and disabled admins are all the same [`Error::Unauthorized`]). Uses nothing.
    pub async fn enrollment_admin(&self, link_secret: &str) -> Result<Admin> {
        let refused = Error::Unauthorized {
            credential: Credential::EnrollmentLink,
        };
        let hash = keyward_password::sha256_hex(link_secret.as_bytes());
        let Some(enrollment) = self.store.admin_enrollment(&hash).await? else {
            return Err(refused);
        };
        if enrollment.used_at.is_some() || enrollment.expires_at <= self.clock.now() {
            return Err(refused);
        }
        match self.store.admin(enrollment.admin_id).await? {
            Some(admin) if admin.is_active() => Ok(admin),
            _ => Err(refused),
        }
    }

    async fn active_by_email(&self, email: &str) -> Result<Admin> {
        let email = Email::parse(email)?;
        match self.store.admin_by_email(&email).await? {
            Some(admin) if admin.is_active() => Ok(admin),
            Some(_) => Err(Error::AdminDisabled {
                email: email.to_string(),
            }),
            None => Err(Error::NotFound {
                what: "admin with e-mail",
                key: email.to_string(),
            }),
        }
    }

    fn new_link(&self) -> Result<(SecretString, String)> {
        let secret = random_token_text()?;
        let hash = keyward_password::sha256_hex(secret.expose().as_bytes());
        let base = self.settings.console.public_url.trim_end_matches('/');
        Ok((
            SecretString::new(format!("{base}{ENROLL_PATH}{}", secret.expose())),
            hash,
        ))
    }

    fn enrollment<'h>(&self, hash: &'h str, now: DateTime<Utc>) -> NewEnrollment<'h> {
        NewEnrollment {
            token_hash: hash,
            created_at: now,
            expires_at: now
                + Duration::hours(i64::from(self.settings.console.enrollment_ttl_hours)),
        }
    }
}

fn audit(
    actor: &Actor,
    action: &str,
    admin: &Admin,
    detail: serde_json::Value,
    at: DateTime<Utc>,
) -> NewAuditRecord {
    NewAuditRecord {
        actor: actor.to_string(),
        action: action.into(),
        subject: format!("admin:{}", admin.email),
        detail,
        at,
    }
}
