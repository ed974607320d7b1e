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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{Duration, Utc};

    use crate::{Actor, Keyward, ManualClock, OpenMode, Settings};

    async fn keyward(clock: Arc<ManualClock>) -> Keyward {
        let settings = Settings {
            database_url: "sqlite::memory:".into(),
            ..Settings::default()
        };
        Keyward::open_with(&settings, OpenMode::CreateIfEmpty)
            .await
            .unwrap()
            .with_clock(clock)
    }

    #[tokio::test]
    async fn a_session_ends_when_idle_at_its_maximum_age_at_sign_out_and_when_its_admin_is_disabled()
     {
        let clock = Arc::new(ManualClock::starting_at(Utc::now()));
        let k = keyward(clock.clone()).await;
        let admins = k.admins();
        let (admin, _link) = admins
            .create("ada@corp.example", "Ada", &Actor::Cli)
            .await
            .unwrap();

        // Idle: 30 minutes without a request.
        let idle = admins.open_session(admin.clone(), "c").await.unwrap();
        clock.advance(Duration::minutes(29));
        let live = admins.session(idle.secret.expose()).await.unwrap();
        assert_eq!(live.admin.id, admin.id);
        assert!(live.csrf_matches(&idle.session.csrf_token));
        assert!(!live.csrf_matches("forged"));
        clock.advance(Duration::minutes(29));
        assert!(
            admins.session(idle.secret.expose()).await.is_ok(),
            "used 29 minutes ago"
        );
        clock.advance(Duration::minutes(31));
        assert!(
            admins.session(idle.secret.expose()).await.is_err(),
            "idle for 31 minutes"
        );

        // Absolute: 12 hours after sign-in, however active.
        let busy = admins.open_session(admin.clone(), "c").await.unwrap();
        let mut alive = Duration::zero();
        while admins.session(busy.secret.expose()).await.is_ok() {
            assert!(
                alive < Duration::hours(13),
                "the session outlived its maximum age"
            );
            clock.advance(Duration::minutes(29));
            alive += Duration::minutes(29);
        }
        assert!(alive >= Duration::hours(12), "ended early, after {alive}");

        // Sign-out, and disabling the admin.
        let out = admins.open_session(admin.clone(), "c").await.unwrap();
        admins
            .sign_out(&out.session, out.secret.expose())
            .await
            .unwrap();
        assert!(admins.session(out.secret.expose()).await.is_err());
        let other = admins.open_session(admin.clone(), "c").await.unwrap();
        admins
            .disable("ada@corp.example", &Actor::Cli)
            .await
            .unwrap();
        assert!(admins.session(other.secret.expose()).await.is_err());
        assert!(admins.start_sign_in("ada@corp.example").await.is_err());
        assert!(admins.link("ada@corp.example", &Actor::Cli).await.is_err());
    }

    #[tokio::test]
    async fn an_enrollment_link_is_refused_once_expired() {
        let clock = Arc::new(ManualClock::starting_at(Utc::now()));
        let k = keyward(clock.clone()).await;
        let admins = k.admins();
        let (_, link) = admins
            .create("bo@corp.example", "Bo", &Actor::Cli)
            .await
            .unwrap();
        let secret = link.expose().rsplit('/').next().unwrap().to_owned();
        assert!(admins.enrollment_admin(&secret).await.is_ok());
        assert!(admins.enrollment_admin("not-a-link").await.is_err());
        clock.advance(Duration::hours(25));
        assert!(admins.enrollment_admin(&secret).await.is_err());
        assert!(
            admins
                .create("BO@corp.example", "Bo again", &Actor::Cli)
                .await
                .is_err(),
            "an e-mail is one admin"
        );
    }
}
