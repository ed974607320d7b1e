//! The per-directory password policy and the Active Directory complexity rules it enforces.
//!
//! Two kinds of password meet a policy. Generated ones (see [`PasswordPolicy::generate`]) follow
//! `length`, the enabled classes and `exclude`. Passwords a person gives are checked by
//! [`PasswordPolicy::validate`] against `min_length` and the rules Active Directory applies
//! when "Password must meet complexity requirements" is on, so that a password keyward accepts
//! is not refused later by the domain controller.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{Error, SecretString};

/// The longest password keyward generates or accepts, in characters.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// The shortest `length` a policy may set for generated passwords.
pub const MIN_GENERATED_CHARS: usize = 8;

/// The symbols generated passwords draw from: ASCII punctuation without quotes, backslash and
/// backtick, which shells, CSV files and configuration formats treat specially.
pub const SYMBOLS: &str = "!#$%&()*+,-./:;<=>?@[]^_{|}~";

/// How many of Active Directory's character categories a password must use.
const REQUIRED_CATEGORIES: usize = 3;

/// Names and display-name tokens shorter than this are not checked (Active Directory's rule).
const MIN_NAME_CHARS: usize = 3;

/// Where Active Directory splits a display name into tokens.
const DISPLAY_NAME_DELIMITERS: [char; 7] = [',', '.', '-', '_', '#', '\t', ' '];

// Every enabled class must fit into a generated password at least once.
const _: () = assert!(MIN_GENERATED_CHARS >= CharClass::ALL.len());

/// One of the character classes generated passwords are built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CharClass {
    Lowercase,
    Uppercase,
    Digits,
    Symbols,
}

impl CharClass {
    pub(crate) const ALL: [Self; 4] = [
        Self::Lowercase,
        Self::Uppercase,
        Self::Digits,
        Self::Symbols,
    ];

    /// Every character of the class, in a fixed order.
    pub(crate) fn members(self) -> &'static str {
        match self {
            Self::Lowercase => "abcdefghijklmnopqrstuvwxyz",
            Self::Uppercase => "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            Self::Digits => "0123456789",
            Self::Symbols => SYMBOLS,
        }
    }

    /// The policy field that turns the class on.
    fn field(self) -> &'static str {
        match self {
            Self::Lowercase => "lowercase",
            Self::Uppercase => "uppercase",
            Self::Digits => "digits",
            Self::Symbols => "symbols",
        }
    }

    /// One member, as a person would say it.
    fn singular(self) -> &'static str {
        match self {
            Self::Lowercase => "lowercase letter",
            Self::Uppercase => "uppercase letter",
            Self::Digits => "digit",
            Self::Symbols => "symbol",
        }
    }
}

/// How a directory's passwords are generated and checked (`[directories.password_policy]`).
///
/// Generated passwords have `length` characters, drawn from the enabled classes minus
/// `exclude`, with at least one character of every enabled class; at least three classes must
/// be enabled, so every generated password also meets Active Directory complexity. Passwords a
/// person gives are checked against `min_length` and Active Directory complexity, not against the
/// classes: those describe what keyward generates.
///
/// ```
/// use keyward_password::{AccountNames, PasswordPolicy, SecretString};
/// use ring::rand::SystemRandom;
///
/// let policy = PasswordPolicy { exclude: "0O1lI".into(), ..PasswordPolicy::default() };
/// policy.check().unwrap();
/// let names = AccountNames { sam_account_name: Some("jsmith"), display_name: Some("Smith, John") };
/// let password = policy.generate(&names, &SystemRandom::new()).unwrap();
/// assert_eq!(password.expose().chars().count(), 24);
/// assert!(policy.validate(&password, &names).is_ok());
///
/// let weak = SecretString::from("John-2024-spring");
/// let problems = policy.validate(&weak, &names).unwrap_err();
/// assert_eq!(problems.to_string(), "the password contains \"John\" from the display name");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one switch per character class is what the configuration file says"
)]
pub struct PasswordPolicy {
    /// Length of generated passwords, 8 to 256 characters (default 24).
    pub length: u16,
    /// Shortest password an administrator or user may give, 1 to 256 characters (default 14);
    /// it may not exceed `length`.
    pub min_length: u16,
    /// Generate lowercase letters `a`–`z` (default on).
    pub lowercase: bool,
    /// Generate uppercase letters `A`–`Z` (default on).
    pub uppercase: bool,
    /// Generate digits `0`–`9` (default on).
    pub digits: bool,
    /// Generate the symbols of [`SYMBOLS`] (default on).
    pub symbols: bool,
    /// Characters never generated, such as `0O1lI` for passwords read aloud or typed from
    /// paper (default none). Characters outside every class are ignored.
    pub exclude: String,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            length: 24,
            min_length: 14,
            lowercase: true,
            uppercase: true,
            digits: true,
            symbols: true,
            exclude: String::new(),
        }
    }
}

impl PasswordPolicy {
    /// Refuses a policy that cannot produce a password passing itself and Active Directory
    /// complexity. The error names every problem found.
    pub fn check(&self) -> Result<(), Error> {
        let mut problems = Vec::new();
        let length = usize::from(self.length);
        if length < MIN_GENERATED_CHARS {
            problems.push(format!(
                "length is {length}; generated passwords need at least {MIN_GENERATED_CHARS} characters"
            ));
        } else if length > MAX_PASSWORD_CHARS {
            problems.push(format!(
                "length is {length}; at most {MAX_PASSWORD_CHARS} characters are allowed"
            ));
        }
        let min_length = usize::from(self.min_length);
        if min_length == 0 {
            problems.push("min_length is 0; it must be at least 1".to_owned());
        } else if min_length > MAX_PASSWORD_CHARS {
            problems.push(format!(
                "min_length is {min_length}; at most {MAX_PASSWORD_CHARS} is allowed"
            ));
        } else if length < min_length {
            problems.push(format!(
                "length ({length}) is below min_length ({min_length}), so generated passwords would break the policy"
            ));
        }
        let enabled = self.enabled_classes();
        if enabled.len() < REQUIRED_CATEGORIES {
            let list = if enabled.is_empty() {
                "none".to_owned()
            } else {
                enabled
                    .iter()
                    .map(|class| class.field())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            problems.push(format!(
                "{} character classes are enabled ({list}); Active Directory complexity needs at least {REQUIRED_CATEGORIES} of lowercase, uppercase, digits and symbols",
                enabled.len()
            ));
        }
        for class in &enabled {
            if self.class_alphabet(*class).next().is_none() {
                problems.push(format!(
                    "exclude removes every {}, but {} is enabled",
                    class.singular(),
                    class.field()
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidPolicy(problems.join("; ")))
        }
    }

    /// Validates a password a person gives: each broken rule is one [`Violation`].
    ///
    /// The rules: at least `min_length` and at most [`MAX_PASSWORD_CHARS`] characters, no
    /// control character, and Active Directory complexity: three of the character categories
    /// (see [`Violation::TooFewClasses`]), not containing the sAMAccountName (when it has three
    /// or more characters) nor any display-name token of three or more characters, compared
    /// without regard to case. Display names are split on commas, periods, hyphens,
    /// underscores, `#`, tabs and spaces.
    pub fn validate(
        &self,
        password: &SecretString,
        names: &AccountNames<'_>,
    ) -> Result<(), PolicyViolations> {
        let text = password.expose();
        let mut violations = Vec::new();
        let actual = text.chars().count();
        let min = usize::from(self.min_length);
        if actual < min {
            violations.push(Violation::TooShort { actual, min });
        }
        if actual > MAX_PASSWORD_CHARS {
            violations.push(Violation::TooLong {
                actual,
                max: MAX_PASSWORD_CHARS,
            });
        }
        if text.chars().any(char::is_control) {
            violations.push(Violation::ControlCharacter);
        }
        let found = category_count(text);
        if found < REQUIRED_CATEGORIES {
            violations.push(Violation::TooFewClasses { found });
        }
        let lowered = Zeroizing::new(text.to_lowercase());
        violations.extend(
            name_rules(names)
                .into_iter()
                .filter(|rule| lowered.contains(rule.lowered.as_str()))
                .map(|rule| rule.violation),
        );
        if violations.is_empty() {
            Ok(())
        } else {
            Err(PolicyViolations(violations))
        }
    }

    /// The enabled classes, in a fixed order.
    pub(crate) fn enabled_classes(&self) -> Vec<CharClass> {
        CharClass::ALL
            .into_iter()
            .filter(|class| match class {
                CharClass::Lowercase => self.lowercase,
                CharClass::Uppercase => self.uppercase,
                CharClass::Digits => self.digits,
                CharClass::Symbols => self.symbols,
            })
            .collect()
    }

    /// The characters of `class` that may be generated.
    pub(crate) fn class_alphabet(&self, class: CharClass) -> impl Iterator<Item = char> + '_ {
        class
            .members()
            .chars()
            .filter(|c| !self.exclude.contains(*c))
    }
}

/// What the directory itself demands of an account's passwords: its domain policy, or the
/// fine-grained policy (PSO) that applies to the account. keyward applies the stricter of this
/// and its own [`PasswordPolicy`] ([`PasswordPolicy::for_directory`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRules {
    /// Which policy, for messages: `the domain password policy of DC=corp1,DC=test` or `the
    /// fine-grained password policy CN=…`.
    pub source: String,
    /// minPwdLength or msDS-MinimumPasswordLength.
    pub min_length: u32,
    /// Complexity on (pwdProperties bit 1, msDS-PasswordComplexityEnabled). keyward always
    /// applies Active Directory complexity, so this only informs.
    pub complexity: bool,
    /// pwdHistoryLength or msDS-PasswordHistoryLength: passwords the directory remembers.
    pub history_length: u32,
}

impl PasswordPolicy {
    /// This policy made at least as strict as `rules`: generated passwords get at least the
    /// directory's minimum length, and given ones are held to it. Fails when the directory
    /// demands more than [`MAX_PASSWORD_CHARS`].
    pub fn for_directory(&self, rules: &DirectoryRules) -> Result<Self, Error> {
        let min = usize::try_from(rules.min_length).unwrap_or(usize::MAX);
        if min > MAX_PASSWORD_CHARS {
            return Err(Error::InvalidPolicy(format!(
                "{} requires at least {min} characters, more than the {MAX_PASSWORD_CHARS} keyward \
                 generates or accepts",
                rules.source
            )));
        }
        let min = u16::try_from(min).unwrap_or(u16::MAX);
        Ok(Self {
            length: self.length.max(min),
            min_length: self.min_length.max(min),
            ..self.clone()
        })
    }

    /// [`validate`](Self::validate) against this policy and the directory's `rules`: a password
    /// shorter than the directory's minimum is reported naming that policy.
    pub fn validate_for_directory(
        &self,
        password: &SecretString,
        names: &AccountNames<'_>,
        rules: &DirectoryRules,
    ) -> Result<(), PolicyViolations> {
        let own = self.validate(password, names);
        let actual = password.expose().chars().count();
        let min = usize::try_from(rules.min_length).unwrap_or(usize::MAX);
        let mut violations = own.err().map(|v| v.0).unwrap_or_default();
        if actual < min && min > usize::from(self.min_length) {
            violations.retain(|v| !matches!(v, Violation::TooShort { .. }));
            violations.insert(
                0,
                Violation::TooShortForDirectory {
                    actual,
                    min,
                    policy: rules.source.clone(),
                },
            );
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(PolicyViolations(violations))
        }
    }
}

/// The names of the account a password is for; Active Directory refuses passwords containing
/// them. A name that is `None` is not checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountNames<'a> {
    /// The sAMAccountName (logon name), such as `jsmith`.
    pub sam_account_name: Option<&'a str>,
    /// The displayName, such as `Smith, John`.
    pub display_name: Option<&'a str>,
}

/// One broken rule of [`PasswordPolicy::validate`].
///
/// Messages never contain the password or a part of it, except a display-name token, which
/// the person knows already.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// Fewer characters than the policy's `min_length`.
    #[error("the password has {actual} characters; at least {min} are required")]
    TooShort {
        /// Characters in the password.
        actual: usize,
        /// The policy's `min_length`.
        min: usize,
    },
    /// Fewer characters than the directory's own policy demands (the domain's, or the
    /// fine-grained policy that applies to the account).
    #[error("the password has {actual} characters; {policy} requires at least {min}")]
    TooShortForDirectory {
        /// Characters in the password.
        actual: usize,
        /// The directory's minimum.
        min: usize,
        /// Which policy, e.g. `the fine-grained password policy CN=Admins PSO,…`.
        policy: String,
    },
    /// More characters than [`MAX_PASSWORD_CHARS`].
    #[error("the password has {actual} characters; at most {max} are allowed")]
    TooLong {
        /// Characters in the password.
        actual: usize,
        /// [`MAX_PASSWORD_CHARS`].
        max: usize,
    },
    /// Fewer than three of Active Directory's categories: uppercase letters, lowercase letters,
    /// digits `0`–`9`, ASCII symbols, and letters without case (as in most Asian scripts).
    /// Spaces and currency signs belong to no category.
    #[error(
        "the password uses {found} of the character categories uppercase letters, lowercase letters, digits, symbols and letters without case; at least 3 are required"
    )]
    TooFewClasses {
        /// Categories the password uses.
        found: usize,
    },
    /// The password contains the sAMAccountName, in any case.
    #[error("the password contains the account name")]
    ContainsAccountName,
    /// The password contains a token of the display name, in any case.
    #[error("the password contains \"{token}\" from the display name")]
    ContainsDisplayNameToken {
        /// The token, as written in the display name.
        token: String,
    },
    /// The password contains a control character, such as a tab or a newline.
    #[error("the password contains a control character")]
    ControlCharacter,
}

/// Every rule a password breaks; `Display` joins their messages with "; ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyViolations(pub Vec<Violation>);

impl fmt::Display for PolicyViolations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, violation) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{violation}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyViolations {}

/// A name a password must not contain, lowercased, and the violation to report if it does.
pub(crate) struct NameRule {
    pub(crate) lowered: String,
    violation: Violation,
}

/// The name rules of Active Directory complexity for `names`, each distinct token once.
pub(crate) fn name_rules(names: &AccountNames<'_>) -> Vec<NameRule> {
    let mut rules = Vec::new();
    if let Some(sam) = names.sam_account_name
        && sam.chars().count() >= MIN_NAME_CHARS
    {
        rules.push(NameRule {
            lowered: sam.to_lowercase(),
            violation: Violation::ContainsAccountName,
        });
    }
    let mut seen: Vec<String> = Vec::new();
    for token in names
        .display_name
        .unwrap_or_default()
        .split(DISPLAY_NAME_DELIMITERS)
        .filter(|token| token.chars().count() >= MIN_NAME_CHARS)
    {
        let lowered = token.to_lowercase();
        if seen.contains(&lowered) {
            continue;
        }
        seen.push(lowered.clone());
        rules.push(NameRule {
            lowered,
            violation: Violation::ContainsDisplayNameToken {
                token: token.to_owned(),
            },
        });
    }
    rules
}

/// How many of Active Directory's five character categories `text` uses.
fn category_count(text: &str) -> usize {
    let mut seen = [false; 5];
    for c in text.chars() {
        let category = if c.is_uppercase() {
            0
        } else if c.is_lowercase() {
            1
        } else if c.is_ascii_digit() {
            2
        } else if c.is_ascii_punctuation() {
            3
        } else if c.is_alphabetic() {
            4
        } else {
            continue;
        };
        seen[category] = true;
    }
    seen.into_iter().filter(|used| *used).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pso(min_length: u32) -> DirectoryRules {
        DirectoryRules {
            source: "the fine-grained password policy CN=Long".into(),
            min_length,
            complexity: true,
            history_length: 24,
        }
    }

    #[test]
    fn the_stricter_of_keyward_and_the_directory_applies() {
        let own = PasswordPolicy::default();
        let strict = own.for_directory(&pso(30)).unwrap();
        assert_eq!((strict.length, strict.min_length), (30, 30));
        // A laxer directory changes nothing.
        assert_eq!(own.for_directory(&pso(7)).unwrap(), own);
        let err = own.for_directory(&pso(300)).unwrap_err().to_string();
        assert!(err.contains("CN=Long requires at least 300"), "{err}");

        let names = AccountNames::default();
        let twenty = SecretString::from("Abcdefghij-123456789");
        let v = own
            .validate_for_directory(&twenty, &names, &pso(30))
            .unwrap_err();
        assert_eq!(
            v.to_string(),
            "the password has 20 characters; the fine-grained password policy CN=Long requires at least 30"
        );
        assert!(own.validate_for_directory(&twenty, &names, &pso(7)).is_ok());
        // keyward's own minimum (14) still applies under a laxer directory, as its own rule.
        let short = SecretString::from("Abc-12345");
        let v = own
            .validate_for_directory(&short, &names, &pso(7))
            .unwrap_err();
        assert!(
            matches!(v.0[0], Violation::TooShort { min: 14, .. }),
            "{v:?}"
        );
    }

    #[test]
    fn categories_follow_active_directory() {
        assert_eq!(category_count(""), 0);
        assert_eq!(category_count("abc"), 1);
        assert_eq!(category_count("aB"), 2);
        assert_eq!(category_count("aB1"), 3);
        assert_eq!(category_count("aB1!"), 4);
        // Letters without case (here Han) are a fifth category.
        assert_eq!(category_count("aB1!\u{5BC6}"), 5);
        assert_eq!(category_count("\u{5BC6}\u{7801}a1"), 3);
        // Accented and Greek letters have case.
        assert_eq!(category_count("\u{E9}\u{C9}\u{3A9}"), 2);
        // Spaces, currency signs and control characters count for nothing.
        assert_eq!(category_count("a \u{20AC}\u{A3}\t"), 1);
        // Every generated symbol is an Active Directory symbol.
        assert!(SYMBOLS.chars().all(|c| c.is_ascii_punctuation()));
    }

    #[test]
    fn display_name_tokens_split_like_active_directory() {
        let names = AccountNames {
            sam_account_name: None,
            display_name: Some("Hagens-Smith, Erin M.\tde_la#Cruz jo"),
        };
        let tokens: Vec<String> = name_rules(&names)
            .into_iter()
            .map(|rule| match rule.violation {
                Violation::ContainsDisplayNameToken { token } => token,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(tokens, ["Hagens", "Smith", "Erin", "Cruz"]);
    }

    #[test]
    fn short_names_and_repeated_tokens_are_checked_once_or_not_at_all() {
        let names = AccountNames {
            sam_account_name: Some("ab"),
            display_name: Some("Ann ANN ann"),
        };
        let rules = name_rules(&names);
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].lowered, "ann");
    }
}
