//! Administrator API tokens (the metadata; the secret half is never part of the model), and
//! the scopes that say which routes a token may call.

use std::collections::BTreeSet;
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

/// What a token may do. Each admin route needs one scope; [`Scope::Admin`] stands for all of
/// them. Scopes do not imply each other otherwise (a `keys` token cannot read the key list
/// without `read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every `GET` of the admin API: employees, keys, history, sync runs, invitations,
    /// workstations, password states.
    Read,
    /// The people keyward manages: directory syncs (and confirming held removals), employees
    /// created by hand, invitations (resend, revoke).
    Sync,
    /// The hardware-key lifecycle: import, assign, activate, lock, ..., delete.
    Keys,
    /// Approving and revoking workstations.
    Workstations,
    /// Starting password rotations and setting passwords.
    Passwords,
    /// Everything, including what a future route may add.
    Admin,
}

impl Scope {
    /// Every scope, in the order they are listed.
    pub const ALL: [Self; 6] = [
        Self::Read,
        Self::Sync,
        Self::Keys,
        Self::Workstations,
        Self::Passwords,
        Self::Admin,
    ];

    /// The scope's name, e.g. `workstations`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Sync => "sync",
            Self::Keys => "keys",
            Self::Workstations => "workstations",
            Self::Passwords => "passwords",
            Self::Admin => "admin",
        }
    }

    /// The scope named `raw` (exactly, lower case).
    pub fn parse(raw: &str) -> crate::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| Error::InvalidEncoding {
                what: "token scope (known: read, sync, keys, workstations, passwords, admin)",
                value: raw.to_owned(),
            })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes of one token: a non-empty set, written as a comma-separated list in a fixed
/// order (`read,keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Scope>", into = "Vec<Scope>")]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// Every right: the scopes of a token created before scopes existed.
    pub fn admin() -> Self {
        Self(BTreeSet::from([Scope::Admin]))
    }

    /// A list such as `keys,read` (spaces around names allowed; duplicates collapse). Empty
    /// lists and unknown names are refused.
    pub fn parse_list(raw: &str) -> crate::Result<Self> {
        let set = raw
            .split(',')
            .map(|part| Scope::parse(part.trim()))
            .collect::<crate::Result<BTreeSet<Scope>>>()?;
        Self::try_from_set(set, raw)
    }

    fn try_from_set(set: BTreeSet<Scope>, raw: &str) -> crate::Result<Self> {
        if set.is_empty() {
            return Err(Error::InvalidEncoding {
                what: "token scope list (give at least one scope)",
                value: raw.to_owned(),
            });
        }
        Ok(Self(set))
    }

    /// Whether a token with these scopes may do what `needed` covers: it has that scope or
    /// `admin`.
    pub fn allows(&self, needed: Scope) -> bool {
        self.0.contains(&Scope::Admin) || self.0.contains(&needed)
    }

    /// The scopes, in their fixed order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Scope::as_str).collect();
        f.write_str(&names.join(","))
    }
}

impl TryFrom<Vec<Scope>> for Scopes {
    type Error = Error;
    fn try_from(list: Vec<Scope>) -> crate::Result<Self> {
        Self::try_from_set(list.into_iter().collect(), "")
    }
}

impl From<Scopes> for Vec<Scope> {
    fn from(s: Scopes) -> Self {
        s.0.into_iter().collect()
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
    /// What it may do.
    pub scopes: Scopes,
    /// From when on it authenticates nothing; `None`: it does not expire.
    pub expires_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    /// Whether the token has expired at `now` (an expiry is exclusive: a token expiring at
    /// `t` is refused at `t`).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_parse_in_a_fixed_order_and_refuse_unknown_or_empty() {
        let s = Scopes::parse_list(" read , keys,read").unwrap();
        assert_eq!(s.to_string(), "read,keys");
        assert!(s.allows(Scope::Keys) && s.allows(Scope::Read));
        assert!(!s.allows(Scope::Workstations));
        assert!(!s.allows(Scope::Admin));
        for bad in ["", ",", "read,", "Read", "everything", "keys;read"] {
            assert!(Scopes::parse_list(bad).is_err(), "{bad:?}");
        }
        assert!(Scopes::try_from(Vec::new()).is_err());
    }

    #[test]
    fn admin_allows_every_scope() {
        let admin = Scopes::parse_list("admin").unwrap();
        assert_eq!(admin, Scopes::admin());
        for scope in Scope::ALL {
            assert!(admin.allows(scope), "{scope}");
            assert_eq!(Scope::parse(scope.as_str()).unwrap(), scope);
        }
    }

    #[test]
    fn scopes_round_trip_through_json() {
        let s = Scopes::parse_list("workstations,read").unwrap();
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(text, r#"["read","workstations"]"#);
        assert_eq!(serde_json::from_str::<Scopes>(&text).unwrap(), s);
        assert!(serde_json::from_str::<Scopes>("[]").is_err());
    }
}
