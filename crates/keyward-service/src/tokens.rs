//! Admin API tokens: creation (the secret is shown once), verification, scopes, expiry,
//! listing, revocation.
//!
//! A token reads `kw_<id>_<secret>`: `id` is the token's UUID in 32 hex digits, `secret` is 32
//! random bytes in URL-safe base64. Only SHA-256 of the secret is stored; the secret has 256 bits
//! of entropy, so a fast hash is enough and a slow one would only slow every request. The stored
//! and presented hashes are compared in constant time.
//!
//! Each token has a non-empty set of [`Scope`]s, and each admin route needs one of them
//! ([`require_scope`]); a token may expire. Token names are never reused (a revoked token keeps
//! its name), so the actor `token:NAME` of an audit record names exactly one token.

use chrono::{DateTime, Duration, Utc};
use keyward_model::{ApiToken, ApiTokenId, NewAuditRecord, Scope, Scopes, TokenName};
use keyward_password::SecretString;
use keyward_store::{NewApiToken, Store};
use uuid::Uuid;

use crate::secrets::random_token_text;
use crate::{Actor, Clock, Credential, Error, Result};

const PREFIX: &str = "kw_";
const ID_HEX_LEN: usize = 32;

/// How stale `last_used_at` may get before a request refreshes it; avoids a write per request.
const TOUCH_INTERVAL_SECONDS: i64 = 60;

/// The longest lifetime `--expires` accepts as a duration: ten years.
const MAX_LIFETIME_DAYS: i64 = 3653;

/// Admin API token operations.
#[derive(Clone, Copy)]
pub struct Tokens<'a> {
    store: &'a Store,
    clock: &'a dyn Clock,
}

impl<'a> Tokens<'a> {
    pub(crate) fn new(store: &'a Store, clock: &'a dyn Clock) -> Self {
        Self { store, clock }
    }

    /// Creates a token named `name` that may do what `scopes` allow until `expires_at`
    /// (`None`: it does not expire; a time not in the future is refused). The returned secret
    /// is the whole token string; it is not stored and cannot be shown again.
    pub async fn create(
        &self,
        name: &str,
        scopes: &Scopes,
        expires_at: Option<DateTime<Utc>>,
        actor: &Actor,
    ) -> Result<(ApiToken, SecretString)> {
        let name = TokenName::parse(name)?;
        let now = self.clock.now();
        if let Some(at) = expires_at
            && at <= now
        {
            return Err(Error::InvalidInput(format!(
                "the expiry {} is not in the future",
                at.to_rfc3339()
            )));
        }
        let id = ApiTokenId::new_v7();
        let secret_text = random_token_text()?;
        let token_text = SecretString::new(format!(
            "{PREFIX}{}_{}",
            id.as_uuid().simple(),
            secret_text.expose()
        ));
        let record = NewAuditRecord {
            actor: actor.to_string(),
            action: "token.created".into(),
            subject: format!("token:{id}"),
            detail: serde_json::json!({
                "name": name.as_str(),
                "scopes": scopes,
                "expires_at": expires_at,
            }),
            at: now,
        };
        let hash = hash_secret(secret_text.expose());
        let token = self
            .store
            .create_api_token(
                &NewApiToken {
                    id,
                    name: &name,
                    secret_hash: &hash,
                    scopes,
                    expires_at,
                    created_at: now,
                },
                &record,
            )
            .await?;
        Ok((token, token_text))
    }

    /// Reads an expiry as `token create --expires` takes it: `never`, a number of days or hours
    /// from now (`30d`, `12h`), or an RFC 3339 time (`2027-01-31T00:00:00Z`).
    pub fn parse_expiry(&self, raw: &str) -> Result<Option<DateTime<Utc>>> {
        parse_expiry(raw.trim(), self.clock.now())
    }

    /// Every token, newest first; never any secret.
    pub async fn list(&self) -> Result<Vec<ApiToken>> {
        Ok(self.store.list_api_tokens().await?)
    }

    /// Revokes the token named `name`; it authenticates nothing from now on.
    pub async fn revoke(&self, name: &str, actor: &Actor) -> Result<ApiToken> {
        let name = TokenName::parse(name)?;
        let now = Utc::now();
        let record = NewAuditRecord {
            actor: actor.to_string(),
            action: "token.revoked".into(),
            subject: format!("token-name:{name}"),
            detail: serde_json::json!({ "name": name.as_str() }),
            at: now,
        };
        Ok(self.store.revoke_api_token(&name, now, &record).await?)
    }

    /// Checks a presented token. Every failure is the same [`Error::Unauthorized`] naming the
    /// admin token, so that a caller learns nothing about which part was wrong, except one: a
    /// token whose secret is right (the caller holds it) but that has expired is
    /// [`Error::TokenExpired`], so that its holder knows to make a new one.
    pub async fn verify(&self, presented: &str) -> Result<ApiToken> {
        let refused = Error::Unauthorized {
            credential: Credential::AdminToken,
        };
        let Some((id, secret)) = parse(presented) else {
            return Err(refused);
        };
        let Some(stored) = self.store.api_token_for_verification(id).await? else {
            return Err(refused);
        };
        if !keyward_password::sha256_matches(&stored.secret_hash, secret.as_bytes())
            || stored.token.revoked_at.is_some()
        {
            return Err(refused);
        }
        let now = self.clock.now();
        if let Some(at) = stored.token.expires_at
            && stored.token.is_expired(now)
        {
            return Err(Error::TokenExpired {
                name: stored.token.name,
                at,
            });
        }
        let stale = stored
            .token
            .last_used_at
            .is_none_or(|t| now - t > Duration::seconds(TOUCH_INTERVAL_SECONDS));
        if stale {
            self.store.touch_api_token(id, now).await?;
        }
        Ok(stored.token)
    }
}

/// Lets `token` do what `needed` covers, or says which scope it lacks.
pub fn require_scope(token: &ApiToken, needed: Scope) -> Result<()> {
    if token.scopes.allows(needed) {
        Ok(())
    } else {
        Err(Error::InsufficientScope {
            token: token.name.clone(),
            needed,
            has: token.scopes.clone(),
        })
    }
}

fn parse_expiry(raw: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let bad = || {
        Error::InvalidInput(format!(
            "invalid expiry {raw:?}: give `never`, a number of days or hours such as `30d` or \
             `12h` (at most {MAX_LIFETIME_DAYS} days), or an RFC 3339 time such as \
             `2027-01-31T00:00:00Z`"
        ))
    };
    if raw == "never" {
        return Ok(None);
    }
    let at = if let Some((digits, unit)) = raw
        .char_indices()
        .last()
        .filter(|(_, unit)| matches!(unit, 'd' | 'h'))
        .map(|(i, unit)| (&raw[..i], unit))
        .filter(|(digits, _)| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
    {
        let n: i64 = digits.parse().map_err(|_| bad())?;
        // Bounded before a Duration is made: chrono panics on an out-of-range one.
        let max = if unit == 'd' {
            MAX_LIFETIME_DAYS
        } else {
            MAX_LIFETIME_DAYS * 24
        };
        if n == 0 || n > max {
            return Err(bad());
        }
        now + if unit == 'd' {
            Duration::days(n)
        } else {
            Duration::hours(n)
        }
    } else {
        DateTime::parse_from_rfc3339(raw)
            .map_err(|_| bad())?
            .with_timezone(&Utc)
    };
    if at <= now {
        return Err(Error::InvalidInput(format!(
            "the expiry {raw} is not in the future (now: {})",
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )));
    }
    Ok(Some(at))
}

fn parse(presented: &str) -> Option<(ApiTokenId, &str)> {
    let rest = presented.trim().strip_prefix(PREFIX)?;
    let id_hex = rest.get(..ID_HEX_LEN)?;
    let secret = rest.get(ID_HEX_LEN..)?.strip_prefix('_')?;
    if secret.is_empty() || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let id = Uuid::try_parse(id_hex).ok()?;
    Some((ApiTokenId::from_uuid(id), secret))
}

fn hash_secret(secret: &str) -> String {
    keyward_password::sha256_hex(secret.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_only_the_token_shape() {
        let id = Uuid::now_v7();
        let good = format!("kw_{}_c2VjcmV0LXdpdGhfdW5kZXJzY29yZQ", id.simple());
        let (parsed, secret) = parse(&good).unwrap();
        assert_eq!(parsed.as_uuid(), id);
        assert_eq!(secret, "c2VjcmV0LXdpdGhfdW5kZXJzY29yZQ");
        for bad in [
            "",
            "kw_",
            "kw_zz",
            &format!("kw_{}", id.simple()),
            &format!("kw_{}_", id.simple()),
            &format!("xx_{}_abc", id.simple()),
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn expiries_are_never_a_duration_or_a_future_time() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_expiry("never", now).unwrap(), None);
        assert_eq!(
            parse_expiry("30d", now).unwrap(),
            Some(now + Duration::days(30))
        );
        assert_eq!(
            parse_expiry("12h", now).unwrap(),
            Some(now + Duration::hours(12))
        );
        assert_eq!(
            parse_expiry("2027-01-31T00:00:00Z", now)
                .unwrap()
                .map(|t| t.to_rfc3339()),
            Some("2027-01-31T00:00:00+00:00".into())
        );
        assert_eq!(
            parse_expiry("3653d", now).unwrap(),
            Some(now + Duration::days(3653))
        );
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "30",
            "30m",
            "30 d",
            "3654d",
            "87697h",
            "9000000000000000000d",
            "99999999999999999999d",
            "2026-12-01T00:00:00Z",
            "2026-12-02T12:00:00Z",
            "tomorrow",
            "1é",
        ] {
            assert!(parse_expiry(bad, now).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hashes_are_hex_sha256() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
