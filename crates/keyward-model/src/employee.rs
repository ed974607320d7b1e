//! Employees: the people keyward manages, merged from directory accounts or created by hand.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Email, EmployeeId, Error};

/// A person's display name: trimmed, 1 to 256 characters, no control characters.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

impl DisplayName {
    /// Trims and validates `raw`.
    pub fn parse(raw: &str) -> crate::Result<Self> {
        let trimmed = raw.trim();
        let fail = |reason| Error::InvalidName {
            what: "display name",
            value: raw.to_owned(),
            reason,
        };
        if trimmed.is_empty() {
            return Err(fail("it is empty"));
        }
        if trimmed.chars().count() > 256 {
            return Err(fail("it is longer than 256 characters"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(fail("it contains control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DisplayName {
    type Error = Error;
    fn try_from(s: String) -> crate::Result<Self> {
        Self::parse(&s)
    }
}

impl From<DisplayName> for String {
    fn from(n: DisplayName) -> String {
        n.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DisplayName({:?})", self.0)
    }
}

/// Whether an employee may use keyward-managed keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmployeeStatus {
    /// The employee is in good standing.
    Active,
    /// Every directory account of the employee is disabled, or an administrator disabled it.
    Disabled,
}

impl EmployeeStatus {
    /// The stable database and API encoding.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
}

impl FromStr for EmployeeStatus {
    type Err = Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            other => Err(Error::InvalidEncoding {
                what: "employee status",
                value: other.to_owned(),
            }),
        }
    }
}

/// How an employee came to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmployeeOrigin {
    /// Created by an administrator for a person in no directory (the product page's manual employee).
    Manual,
    /// Created by a directory sync.
    Directory,
}

impl EmployeeOrigin {
    /// The stable database and API encoding.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Directory => "directory",
        }
    }
}

impl FromStr for EmployeeOrigin {
    type Err = Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "manual" => Ok(Self::Manual),
            "directory" => Ok(Self::Directory),
            other => Err(Error::InvalidEncoding {
                what: "employee origin",
                value: other.to_owned(),
            }),
        }
    }
}

/// An employee as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Employee {
    /// Stable id.
    pub id: EmployeeId,
    /// Normalized e-mail, the merge key; `None` for a directory account without mail.
    pub email: Option<Email>,
    /// Name shown to people.
    pub display_name: DisplayName,
    /// Standing.
    pub status: EmployeeStatus,
    /// How it was created.
    pub origin: EmployeeOrigin,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// What an administrator supplies to create an employee by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmployee {
    /// E-mail address; required for manual employees so that a later sync can link them.
    pub email: Email,
    /// Display name.
    pub display_name: DisplayName,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
        assert!(DisplayName::parse(&"x".repeat(257)).is_err());
        assert!(DisplayName::parse(&"é".repeat(256)).is_ok());
    }

    #[test]
    fn status_and_origin_encodings_round_trip() {
        for s in [EmployeeStatus::Active, EmployeeStatus::Disabled] {
            assert_eq!(s.as_str().parse::<EmployeeStatus>().unwrap(), s);
        }
        for o in [EmployeeOrigin::Manual, EmployeeOrigin::Directory] {
            assert_eq!(o.as_str().parse::<EmployeeOrigin>().unwrap(), o);
        }
        assert!("Active".parse::<EmployeeStatus>().is_err());
    }
}
