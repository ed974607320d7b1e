//! Identifiers. Ids are UUIDs; new ones are version 7 so that they sort by creation time, which
//! keeps cursor paging stable and index-friendly.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id (UUID version 7).
            pub fn new_v7() -> Self {
                Self(Uuid::now_v7())
            }
            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// The UUID inside.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> crate::Result<Self> {
                Uuid::parse_str(s.trim()).map(Self).map_err(|_| Error::InvalidEncoding {
                    what: $what,
                    value: s.to_owned(),
                })
            }
        }
    };
}

uuid_id!(
    /// The stable id of an employee: kept for as long as any of its accounts remains.
    EmployeeId,
    "employee id"
);
uuid_id!(
    /// The id of an administrator API token (the public half of the token string).
    ApiTokenId,
    "API token id"
);

/// The configured name of a directory (one AD domain), e.g. `corp1`.
///
/// Lower-case ASCII letters, digits, `-` and `_`, 1 to 64 characters, starting with a letter:
/// it appears in URLs, CLI arguments and log lines, so it must need no quoting anywhere.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DirectoryName(String);

impl DirectoryName {
    /// Validates `raw` as a directory name.
    pub fn parse(raw: &str) -> crate::Result<Self> {
        let fail = |reason| Error::InvalidName {
            what: "directory name",
            value: raw.to_owned(),
            reason,
        };
        if raw.is_empty() || raw.len() > 64 {
            return Err(fail("it must be 1 to 64 characters long"));
        }
        if !raw.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(fail("it must start with a lower-case letter"));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(fail("only a-z, 0-9, '-' and '_' are allowed"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DirectoryName {
    type Error = Error;
    fn try_from(s: String) -> crate::Result<Self> {
        Self::parse(&s)
    }
}

impl From<DirectoryName> for String {
    fn from(n: DirectoryName) -> String {
        n.0
    }
}

impl FromStr for DirectoryName {
    type Err = Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for DirectoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DirectoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DirectoryName({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = EmployeeId::new_v7();
        assert_eq!(id.to_string().parse::<EmployeeId>().unwrap(), id);
        assert!("not-a-uuid".parse::<EmployeeId>().is_err());
    }

    #[test]
    fn v7_ids_sort_by_creation() {
        let a = EmployeeId::new_v7();
        let b = EmployeeId::new_v7();
        assert!(a < b);
    }

    #[test]
    fn directory_names() {
        assert!(DirectoryName::parse("corp1").is_ok());
        assert!(DirectoryName::parse("corp_eu-2").is_ok());
        for bad in ["", "Corp1", "1corp", "corp 1", "corp.test", &"a".repeat(65)] {
            assert!(
                DirectoryName::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
