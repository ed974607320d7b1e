//! Normalized e-mail addresses: the key that merges accounts into employees.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// The longest address SMTP allows (RFC 5321 path limit less the brackets).
const MAX_LEN: usize = 254;

/// An e-mail address, trimmed and lower-cased.
///
/// Equality of two `Email`s is the merge rule of docs/product.md §1: the same normalized
/// address means the same person. Validation is deliberately modest (one `@`, non-empty parts,
/// no spaces or control characters, a domain with at least one dot) because directories hold
/// odd but real addresses and refusing them would drop people.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Email(String);

impl Email {
    /// Normalizes and validates `raw`.
    pub fn parse(raw: &str) -> crate::Result<Self> {
        let trimmed = raw.trim();
        let fail = |reason| Error::InvalidEmail {
            value: raw.to_owned(),
            reason,
        };
        if trimmed.is_empty() {
            return Err(fail("it is empty"));
        }
        if trimmed.len() > MAX_LEN {
            return Err(fail("it is longer than 254 characters"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail("it contains spaces or control characters"));
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(fail("it has no '@'"));
        };
        if local.is_empty() {
            return Err(fail("the part before '@' is empty"));
        }
        if local.contains('@') && !local.starts_with('"') {
            return Err(fail("it has more than one '@'"));
        }
        if domain.is_empty() || domain.starts_with('.') || domain.ends_with('.') {
            return Err(fail(
                "the domain after '@' is empty or starts or ends with '.'",
            ));
        }
        if !domain.contains('.') {
            return Err(fail("the domain after '@' has no '.'"));
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain part, after the last `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

impl FromStr for Email {
    type Err = Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalizes_case_and_surrounding_space() {
        let e = Email::parse("  Ada.Lovelace@Example.COM\t").unwrap();
        assert_eq!(e.as_str(), "ada.lovelace@example.com");
        assert_eq!(e.domain(), "example.com");
    }

    #[test]
    fn rejects_what_cannot_be_an_address() {
        for (raw, why) in [
            ("", "empty"),
            ("   ", "empty"),
            ("no-at-sign.example.com", "no '@'"),
            ("@example.com", "before '@'"),
            ("ada@", "after '@'"),
            ("ada@localhost", "no '.'"),
            ("ada@.example.com", "starts or ends"),
            ("a da@example.com", "spaces"),
            ("a@b@example.com", "more than one"),
        ] {
            let err = Email::parse(raw).unwrap_err().to_string();
            assert!(
                err.contains(why),
                "{raw:?} gave {err:?}, expected to mention {why:?}"
            );
        }
    }

    #[test]
    fn serde_round_trip_normalizes() {
        let e: Email = serde_json::from_str("\"Bob@Example.org\"").unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"bob@example.org\"");
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
    }

    proptest! {
        #[test]
        fn case_and_spaces_never_change_identity(local in "[a-zA-Z0-9._%+-]{1,20}", domain in "[a-zA-Z0-9-]{1,12}\\.[a-zA-Z]{2,6}", pad in " {0,3}") {
            let plain = Email::parse(&format!("{local}@{domain}")).unwrap();
            let noisy = Email::parse(&format!("{pad}{}@{}{pad}", local.to_uppercase(), domain.to_uppercase())).unwrap();
            prop_assert_eq!(plain, noisy);
        }
    }
}
