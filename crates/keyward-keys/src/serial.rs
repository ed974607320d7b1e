//! Key serial numbers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A hardware key's serial number: 1 to 64 characters of ASCII letters, digits, `-` and `_`,
/// stored upper-cased so that `st10123` and `ST10123` are one key.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeySerial(String);

impl KeySerial {
    /// Trims, upper-cases and validates `raw`.
    pub fn parse(raw: &str) -> crate::Result<Self> {
        Self::check(raw).map_err(|problem| {
            Error::InvalidInput(format!("invalid key serial {:?}: {problem}", quoted(raw)))
        })
    }

    /// [`KeySerial::parse`], saying only what is wrong: for callers that name the value
    /// themselves (a line of a serial list).
    pub(crate) fn check(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim();
        if s.is_empty() || s.len() > 64 {
            return Err("it must be 1 to 64 characters long");
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err("only letters, digits, '-' and '_' are allowed");
        }
        Ok(Self(s.to_ascii_uppercase()))
    }

    /// The serial.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `raw` for a message: its first 64 characters, then `…`, so that a hostile megabyte is not
/// copied into every message that names it.
pub(crate) fn quoted(raw: &str) -> String {
    match raw.char_indices().nth(64) {
        None => raw.to_owned(),
        Some((cut, _)) => format!("{}…", &raw[..cut]),
    }
}

impl FromStr for KeySerial {
    type Err = Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        Self::parse(s)
    }
}

impl TryFrom<String> for KeySerial {
    type Error = Error;
    fn try_from(s: String) -> crate::Result<Self> {
        Self::parse(&s)
    }
}

impl From<KeySerial> for String {
    fn from(s: KeySerial) -> String {
        s.0
    }
}

impl fmt::Display for KeySerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeySerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeySerial({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_normalized_and_checked() {
        assert_eq!(KeySerial::parse(" st10123 ").unwrap().as_str(), "ST10123");
        for bad in ["", "  ", "ST 1", "ST/1", &"A".repeat(65)] {
            assert!(KeySerial::parse(bad).is_err(), "{bad:?}");
        }
    }
}
