//! Admin API tokens: creation (the secret is shown once), verification, listing, revocation.
//!
//! A token reads `kw_<id>_<secret>`: `id` is the token's UUID in 32 hex digits, `secret` is 32
//! random bytes in URL-safe base64. Only SHA-256 of the secret is stored; the secret has 256 bits
//! of entropy, so a fast hash is enough and a slow one would only slow every request. The stored
//! and presented hashes are compared in constant time.

use chrono::{Duration, Utc};
use keyward_model::{ApiToken, ApiTokenId, NewAuditRecord, TokenName};
use keyward_password::SecretString;
use keyward_store::Store;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::secrets::random_token_text;
use crate::{Actor, Error, Result};

const PREFIX: &str = "kw_";
const ID_HEX_LEN: usize = 32;

/// How stale `last_used_at` may get before a request refreshes it; avoids a write per request.
const TOUCH_INTERVAL_SECONDS: i64 = 60;

/// Admin API token operations.
#[derive(Debug, Clone, Copy)]
pub struct Tokens<'a> {
    store: &'a Store,
}

impl<'a> Tokens<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        Self { store }
    }

    /// Creates a token named `name`. The returned secret is the whole token string; it is not
    /// stored and cannot be shown again.
    pub async fn create(&self, name: &str, actor: &Actor) -> Result<(ApiToken, SecretString)> {
        let name = TokenName::parse(name)?;
        let id = ApiTokenId::new_v7();
        let secret_text = random_token_text()?;
        let token_text = SecretString::new(format!(
            "{PREFIX}{}_{}",
            id.as_uuid().simple(),
            secret_text.expose()
        ));
        let now = Utc::now();
        let record = NewAuditRecord {
            actor: actor.to_string(),
            action: "token.created".into(),
            subject: format!("token:{id}"),
            detail: serde_json::json!({ "name": name.as_str() }),
            at: now,
        };
        let token = self
            .store
            .create_api_token(id, &name, &hash_secret(secret_text.expose()), now, &record)
            .await?;
        Ok((token, token_text))
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

    /// Checks a presented token. Every failure is the same [`Error::Unauthorized`], so that a
    /// caller learns nothing about which part was wrong.
    pub async fn verify(&self, presented: &str) -> Result<ApiToken> {
        let (id, secret) = parse(presented).ok_or(Error::Unauthorized)?;
        let presented_hash = hash_secret(secret);
        let Some(stored) = self.store.api_token_for_verification(id).await? else {
            return Err(Error::Unauthorized);
        };
        let equal: bool = presented_hash
            .as_bytes()
            .ct_eq(stored.secret_hash.as_bytes())
            .into();
        if !equal || stored.token.revoked_at.is_some() {
            return Err(Error::Unauthorized);
        }
        let now = Utc::now();
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
    fn hashes_are_hex_sha256() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
