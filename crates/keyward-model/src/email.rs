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
///
/// On hostile input `parse` never panics; a refusal is one line that quotes at most the first
/// 64 characters of the value, and an accepted address is a fixed point (`parse` of its
/// `as_str()` is itself): the 254-byte limit holds for the lower-cased form that is stored.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Email(String);

impl Email {
    /// Normalizes and validates `raw`.
    pub fn parse(raw: &str) -> crate::Result<Self> {
        let trimmed = raw.trim();
        let fail = |reason| Error::InvalidEmail {
            value: quoted(raw),
            reason,
        };
        if trimmed.is_empty() {
            return Err(fail("it is empty"));
        }
        // Lower-casing shrinks a character at most threefold (the Kelvin sign to `k`): anything
        // longer cannot fit, and is refused before it is copied.
        if trimmed.len() > 3 * MAX_LEN {
            return Err(fail("it is longer than 254 bytes"));
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
        // Measured once lower-cased: lower-casing may lengthen a string (`İ` becomes `i̇`, 2
        // bytes to 3), and what is stored must parse again as itself.
        let normalized = trimmed.to_lowercase();
        if normalized.len() > MAX_LEN {
            return Err(fail("it is longer than 254 bytes"));
        }
        Ok(Self(normalized))
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

/// At most this many characters of a refused value are quoted in its error.
const QUOTED_CHARS: usize = 64;

/// `raw` for an error message: its first [`QUOTED_CHARS`] characters, then `…`, so that a
/// hostile megabyte is not copied into every message and log line that names it.
fn quoted(raw: &str) -> String {
    match raw.char_indices().nth(QUOTED_CHARS) {
        None => raw.to_owned(),
        Some((cut, _)) => format!("{}…", &raw[..cut]),
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

    #[test]
    fn a_refusal_quotes_at_most_the_start_of_a_huge_value() {
        let huge = format!("a@b.c{}", "x y".repeat(1 << 18));
        let err = Email::parse(&huge).unwrap_err().to_string();
        assert!(
            err.len() < 200 && err.contains("a@b.cx y") && err.contains('…'),
            "{err}"
        );
    }

    /// The rule for what is accepted, stated on the result: one line of at most 254 bytes,
    /// lower-cased, no whitespace or control character, a non-empty part before the last `@`
    /// that holds no other `@` unless quoted, and a domain with a dot inside.
    fn follows_the_rule(e: &Email) -> Result<(), String> {
        let s = e.as_str();
        let (local, domain) = s.rsplit_once('@').ok_or("no @")?;
        let checks = [
            (!s.is_empty() && s.len() <= MAX_LEN, "length"),
            (s == s.to_lowercase(), "lower case"),
            (
                !s.chars().any(|c| c.is_whitespace() || c.is_control()),
                "spaces",
            ),
            (!local.is_empty(), "local part"),
            (!local.contains('@') || local.starts_with('"'), "one @"),
            (
                domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'),
                "domain",
            ),
            (e.domain() == domain, "domain()"),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, what)) => Err(format!("{s:?} breaks the rule: {what}")),
            None => Ok(()),
        }
    }

    /// Text that is often nearly an address, and sometimes anything.
    fn address_like() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,40}",
            ".{0,40}",
            "[ \t]{0,2}[a-zA-Z0-9.\"@ÀİßK-]{0,20}@[a-zA-Z0-9.İ-]{0,20}[ \n]{0,2}",
            ("[İẞΣa]{60,130}", "@[a-z]{1,5}\\.[a-z]{2,3}").prop_map(|(l, d)| format!("{l}{d}")),
            "[a-z]{1,3}@[a-z]{1,3}\\.[a-z]{2}".prop_map(|s| format!("{s}{}", "x".repeat(2000))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Any text: no panic; what is accepted follows the rule and is a fixed point (parsing
        /// the normalized address again gives the same address), and a refusal is one line
        /// that quotes at most a short part of the input.
        #[test]
        fn any_text_is_refused_or_normalized_for_good(raw in address_like()) {
            match Email::parse(&raw) {
                Ok(e) => {
                    follows_the_rule(&e).map_err(TestCaseError::fail)?;
                    let again = Email::parse(e.as_str());
                    prop_assert_eq!(again.as_ref(), Ok(&e), "not idempotent");
                    prop_assert_eq!(serde_json::from_str::<Email>(&serde_json::to_string(&e).unwrap()).unwrap(), e);
                }
                Err(err) => {
                    let message = err.to_string();
                    prop_assert!(!message.contains('\n'), "{}", message);
                    prop_assert!(message.len() <= 400, "{} bytes", message.len());
                }
            }
        }

        /// Every address the rule describes is accepted, as itself lower-cased.
        #[test]
        fn what_the_rule_describes_is_accepted(
            local in "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}",
            labels in proptest::collection::vec("[a-zA-Z0-9-]{1,20}", 2..4),
        ) {
            let raw = format!("{local}@{}", labels.join("."));
            prop_assume!(raw.len() <= MAX_LEN);
            let e = Email::parse(&raw).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(e.as_str(), raw.to_lowercase());
        }
    }
}
