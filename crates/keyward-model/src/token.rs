//! Administrator API tokens (the metadata; the secret half is never part of the model).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ApiTokenId, Error};

/// A token's human name, e.g. `ci-pipeline`: 1 to 64 characters of letters, digits, `-`, `_`, `.`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenName(String);

impl TokenName {
    /// Validates `raw`.
    pub fn parse(raw: &str) -> crate::Result<Self> {
        let fail = |reason| Error::InvalidName {
            what: "token name",
            value: raw.to_owned(),
            reason,
        };
        if raw.is_empty() || raw.len() > 64 {
            return Err(fail("it must be 1 to 64 characters long"));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(fail("only letters, digits, '-', '_' and '.' are allowed"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TokenName {
    type Error = Error;
    fn try_from(s: String) -> crate::Result<Self> {
        Self::parse(&s)
    }
}

impl From<TokenName> for String {
    fn from(n: TokenName) -> String {
        n.0
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenName({})", self.0)
    }
}

/// An administrator API token's public metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Id, also the public prefix of the token string.
    pub id: ApiTokenId,
    /// Unique human name.
    pub name: TokenName,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last used to authenticate a request.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; a revoked token authenticates nothing.
    pub revoked_at: Option<DateTime<Utc>>,
}
