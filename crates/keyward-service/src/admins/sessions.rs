//! Console sessions: opened by a sign-in, checked on every console request.

use chrono::Duration;
use keyward_model::{Admin, NewAuditRecord};
use keyward_password::SecretString;
use keyward_store::NewAdminSession;

use super::Admins;
use crate::secrets::random_token_text;
use crate::{Actor, Credential, Error, Result};

/// How stale `last_seen_at` may get before a request refreshes it; avoids a write per request.
const TOUCH_INTERVAL_SECONDS: i64 = 60;

/// A sign-in that succeeded: the cookie's secret (shown to the browser once) and the session.
#[derive(Debug)]
pub struct SignedIn {
    /// The value of the session cookie.
    pub secret: SecretString,
    /// The session it opens.
    pub session: ConsoleSession,
}

/// A live session.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// Who is signed in.
    pub admin: Admin,
    /// The token each state-changing request must carry (a hidden form field).
    pub csrf_token: String,
}

impl ConsoleSession {
    /// The actor audit records of this admin's actions name.
    pub fn actor(&self) -> Actor {
        Actor::Admin(self.admin.email.clone())
    }

    /// Whether `presented` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        let stored = keyward_password::sha256_hex(self.csrf_token.as_bytes());
        keyward_password::sha256_matches(&stored, presented.as_bytes())
    }
}

impl Admins<'_> {
    pub(super) async fn open_session(&self, admin: Admin, credential: &str) -> Result<SignedIn> {
        let secret = random_token_text()?;
        let csrf_token = random_token_text()?;
        let now = self.clock.now();
        let hash = keyward_password::sha256_hex(secret.expose().as_bytes());
        let record = NewAuditRecord {
            actor: Actor::Admin(admin.email.clone()).to_string(),
            action: "admin.signed_in".into(),
            subject: format!("admin:{}", admin.email),
            detail: serde_json::json!({ "credential": credential }),
            at: now,
        };
        self.store
            .create_admin_session(
                &NewAdminSession {
                    id_hash: &hash,
                    admin_id: admin.id,
                    csrf_token: csrf_token.expose(),
                    created_at: now,
                    expires_at: now
                        + Duration::hours(i64::from(self.settings.console.session_max_hours)),
                },
                &record,
            )
            .await?;
        Ok(SignedIn {
            secret,
            session: ConsoleSession {
                admin,
                csrf_token: csrf_token.expose().to_owned(),
            },
        })
    }

    /// The live session whose cookie holds `secret`: refused when unknown, idle for longer
    /// than `console.session_idle_minutes`, past `console.session_max_hours`, or its admin is
    /// disabled. An expired session is deleted.
    pub async fn session(&self, secret: &str) -> Result<ConsoleSession> {
        let refused = Error::Unauthorized {
            credential: Credential::ConsoleSession,
        };
        let hash = keyward_password::sha256_hex(secret.as_bytes());
        let Some(stored) = self.store.admin_session(&hash).await? else {
            return Err(refused);
        };
        let now = self.clock.now();
        let idle = Duration::minutes(i64::from(self.settings.console.session_idle_minutes));
        if now >= stored.expires_at
            || now - stored.last_seen_at >= idle
            || !stored.admin.is_active()
        {
            self.store.end_admin_session(&hash, None).await?;
            return Err(refused);
        }
        if now - stored.last_seen_at > Duration::seconds(TOUCH_INTERVAL_SECONDS) {
            self.store.touch_admin_session(&hash, now).await?;
        }
        Ok(ConsoleSession {
            admin: stored.admin,
            csrf_token: stored.csrf_token,
        })
    }

    /// Ends the session whose cookie holds `secret` (sign-out), with an audit record.
    pub async fn sign_out(&self, session: &ConsoleSession, secret: &str) -> Result<()> {
        let hash = keyward_password::sha256_hex(secret.as_bytes());
        let record = NewAuditRecord {
            actor: session.actor().to_string(),
            action: "admin.signed_out".into(),
            subject: format!("admin:{}", session.admin.email),
            detail: serde_json::json!({}),
            at: self.clock.now(),
        };
        Ok(self.store.end_admin_session(&hash, Some(&record)).await?)
    }
}
