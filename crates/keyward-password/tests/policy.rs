//! The password policy from the outside: what `check` refuses, what `validate` reports, and
//! that every generated password passes the policy that made it.

// Test code: a panic is a failed test with its location, which is what a test should do.
#![allow(clippy::unwrap_used)]

use keyward_password::{
    AccountNames, Error, MAX_PASSWORD_CHARS, PasswordPolicy, PolicyViolations, SYMBOLS,
    SecretString, Violation,
};
use proptest::prelude::*;
use ring::rand::SystemRandom;

const CLASSES: [&str; 4] = [
    "abcdefghijklmnopqrstuvwxyz",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789",
    SYMBOLS,
];

fn flags(policy: &PasswordPolicy) -> [bool; 4] {
    [
        policy.lowercase,
        policy.uppercase,
        policy.digits,
        policy.symbols,
    ]
}

fn alphabet(policy: &PasswordPolicy) -> String {
    CLASSES
        .iter()
        .zip(flags(policy))
        .filter(|(_, enabled)| *enabled)
        .flat_map(|(class, _)| class.chars())
        .filter(|c| !policy.exclude.contains(*c))
        .collect()
}

fn invalid_policy_message(policy: &PasswordPolicy) -> String {
    match policy.check() {
        Err(Error::InvalidPolicy(message)) => message,
        other => panic!("expected InvalidPolicy, got {other:?}"),
    }
}

fn violations(policy: &PasswordPolicy, password: &str, names: &AccountNames<'_>) -> Vec<Violation> {
    let secret = SecretString::from(password);
    match policy.validate(&secret, names) {
        Ok(()) => Vec::new(),
        Err(PolicyViolations(found)) => found,
    }
}

/// Valid policies: every class combination with three or four classes, any exclusions that
/// leave each enabled class at least one character (often very few), junk in `exclude`.
fn valid_policy() -> impl Strategy<Value = PasswordPolicy> {
    let class_flags = prop::sample::select(vec![
        [true, true, true, true],
        [false, true, true, true],
        [true, false, true, true],
        [true, true, false, true],
        [true, true, true, false],
    ]);
    // An OR of two masks excludes three characters in four.
    let mask = prop_oneof![
        any::<u32>(),
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| a | b)
    ];
    (
        8u16..=64,
        any::<u16>(),
        class_flags,
        [mask.clone(), mask.clone(), mask.clone(), mask],
        "[\u{0}\t\"'\\\\` \u{E9}\u{20AC}]{0,4}",
    )
        .prop_map(|(length, min_raw, flags, masks, junk)| {
            let mut exclude = junk;
            for ((class, mask), enabled) in CLASSES.iter().zip(masks).zip(flags) {
                let chars: Vec<char> = class.chars().collect();
                let mut excluded: Vec<char> = chars
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, c)| *c)
                    .collect();
                if enabled && excluded.len() == chars.len() {
                    // Leave one character, chosen by the mask, so the class is not empty.
                    excluded.remove(usize::try_from(mask).unwrap() % chars.len());
                }
                exclude.extend(excluded);
            }
            PasswordPolicy {
                length,
                min_length: 1 + min_raw % length,
                lowercase: flags[0],
                uppercase: flags[1],
                digits: flags[2],
                symbols: flags[3],
                exclude,
            }
        })
}

proptest! {
    #[test]
    fn generated_passwords_pass_the_policy_that_made_them(
        policy in valid_policy(),
        sam in proptest::option::of("[a-zA-Z0-9._-]{0,12}"),
        display in proptest::option::of("[a-zA-Z0-9 ,._#\t-]{0,40}"),
    ) {
        prop_assert!(policy.check().is_ok(), "{:?}", policy.check());
        let names = AccountNames {
            sam_account_name: sam.as_deref(),
            display_name: display.as_deref(),
        };
        let password = policy.generate(&names, &SystemRandom::new()).unwrap();
        let text = password.expose();
        prop_assert_eq!(text.chars().count(), usize::from(policy.length));
        let alphabet = alphabet(&policy);
        prop_assert!(text.chars().all(|c| alphabet.contains(c)));
        prop_assert!(!text.chars().any(|c| policy.exclude.contains(c)));
        for (class, enabled) in CLASSES.iter().zip(flags(&policy)) {
            prop_assert_eq!(text.chars().any(|c| class.contains(c)), enabled);
        }
        prop_assert_eq!(policy.validate(&password, &names), Ok(()));
    }
}

#[test]
fn generated_passwords_avoid_names_even_when_they_come_up_often() {
    // With five characters to draw from, most candidates contain one of the names.
    let policy = PasswordPolicy {
        exclude: "cdefghijklmnopqrstuvwxyzACDEFGHIJKLMNOPQRSTUVWXYZ03456789".into(),
        symbols: false,
        ..PasswordPolicy::default()
    };
    assert_eq!(alphabet(&policy), "abB12");
    let names = AccountNames {
        sam_account_name: Some("Ab1"),
        display_name: Some("Bab, Ba2"),
    };
    let rng = SystemRandom::new();
    for _ in 0..200 {
        let password = policy.generate(&names, &rng).unwrap();
        let lowered = password.expose().to_lowercase();
        for name in ["ab1", "bab", "ba2"] {
            assert!(!lowered.contains(name));
        }
        assert_eq!(policy.validate(&password, &names), Ok(()));
    }
}

#[test]
fn the_default_policy_is_valid_and_generates_24_characters() {
    let policy = PasswordPolicy::default();
    policy.check().unwrap();
    assert_eq!(
        (policy.length, policy.min_length, policy.exclude.as_str()),
        (24, 14, "")
    );
    assert!(policy.lowercase && policy.uppercase && policy.digits && policy.symbols);
    let a = policy
        .generate(&AccountNames::default(), &SystemRandom::new())
        .unwrap();
    let b = policy
        .generate(&AccountNames::default(), &SystemRandom::new())
        .unwrap();
    assert_eq!(a.expose().len(), 24);
    assert_ne!(a, b);
}

#[test]
fn check_refuses_each_impossible_policy_by_name() {
    let base = PasswordPolicy::default();
    let cases: Vec<(PasswordPolicy, &str)> = vec![
        (
            PasswordPolicy {
                length: 7,
                min_length: 7,
                ..base.clone()
            },
            "length is 7; generated passwords need at least 8 characters",
        ),
        (
            PasswordPolicy {
                length: 257,
                ..base.clone()
            },
            "length is 257; at most 256 characters are allowed",
        ),
        (
            PasswordPolicy {
                min_length: 0,
                ..base.clone()
            },
            "min_length is 0; it must be at least 1",
        ),
        (
            PasswordPolicy {
                length: 256,
                min_length: 300,
                ..base.clone()
            },
            "min_length is 300; at most 256 is allowed",
        ),
        (
            PasswordPolicy {
                length: 12,
                ..base.clone()
            },
            "length (12) is below min_length (14), so generated passwords would break the policy",
        ),
        (
            PasswordPolicy {
                digits: false,
                symbols: false,
                ..base.clone()
            },
            "2 character classes are enabled (lowercase, uppercase); Active Directory complexity needs at least 3 of lowercase, uppercase, digits and symbols",
        ),
        (
            PasswordPolicy {
                lowercase: false,
                uppercase: false,
                digits: false,
                symbols: false,
                ..base.clone()
            },
            "0 character classes are enabled (none); Active Directory complexity needs at least 3 of lowercase, uppercase, digits and symbols",
        ),
        (
            PasswordPolicy {
                exclude: "0123456789".into(),
                ..base.clone()
            },
            "exclude removes every digit, but digits is enabled",
        ),
        (
            PasswordPolicy {
                exclude: SYMBOLS.into(),
                ..base.clone()
            },
            "exclude removes every symbol, but symbols is enabled",
        ),
    ];
    for (policy, expected) in cases {
        assert_eq!(invalid_policy_message(&policy), expected, "{policy:?}");
    }
}

#[test]
fn check_names_every_problem_at_once() {
    let policy = PasswordPolicy {
        length: 5,
        lowercase: false,
        exclude: "ABCDEFGHIJKLMNOPQRSTUVWXYZ".into(),
        ..PasswordPolicy::default()
    };
    let message = invalid_policy_message(&policy);
    assert!(message.contains("length is 5"), "{message}");
    assert!(message.contains("below min_length"), "{message}");
    assert!(message.contains("every uppercase letter"), "{message}");
    assert!(!message.contains('\n'));
    assert_eq!(
        Error::InvalidPolicy(message.clone()).to_string(),
        format!("invalid password policy: {message}")
    );
}

#[test]
fn check_accepts_what_it_can_ignore() {
    // Excluding a whole disabled class, control characters or characters outside every class
    // harms nothing.
    let policy = PasswordPolicy {
        symbols: false,
        exclude: format!("{SYMBOLS}\u{0}\t\u{E9}"),
        length: 8,
        min_length: 8,
        ..PasswordPolicy::default()
    };
    policy.check().unwrap();
    let big = PasswordPolicy {
        length: 256,
        min_length: 256,
        ..PasswordPolicy::default()
    };
    big.check().unwrap();
    let password = big
        .generate(&AccountNames::default(), &SystemRandom::new())
        .unwrap();
    assert_eq!(password.expose().len(), MAX_PASSWORD_CHARS);
}

#[test]
fn validate_reports_one_specific_violation_per_broken_rule() {
    let policy = PasswordPolicy::default();
    let names = AccountNames {
        sam_account_name: Some("jdoe42"),
        display_name: Some("Smith, John-Paul"),
    };
    let cases: Vec<(&str, Vec<Violation>)> = vec![
        ("Correct-Horse-42", vec![]),
        (
            "Sh0rt!pass",
            vec![Violation::TooShort {
                actual: 10,
                min: 14,
            }],
        ),
        (
            "onlylowercaseletters",
            vec![Violation::TooFewClasses { found: 1 }],
        ),
        (
            "lowercase and 12345",
            vec![Violation::TooFewClasses { found: 2 }],
        ),
        ("Zz9!xxJDOE42xx", vec![Violation::ContainsAccountName]),
        (
            "Zz9!xxjohnxxxx",
            vec![Violation::ContainsDisplayNameToken {
                token: "John".into(),
            }],
        ),
        (
            "Zz9!paul-smith",
            vec![
                Violation::ContainsDisplayNameToken {
                    token: "Smith".into(),
                },
                Violation::ContainsDisplayNameToken {
                    token: "Paul".into(),
                },
            ],
        ),
        ("Zz9!abc\ndefgh1", vec![Violation::ControlCharacter]),
        // Letters without case count as a category, as in Active Directory.
        ("\u{5BC6}\u{7801}\u{5BC6}\u{7801}abcdefgh1234", vec![]),
        (
            "x\u{7}",
            vec![
                Violation::TooShort { actual: 2, min: 14 },
                Violation::ControlCharacter,
                Violation::TooFewClasses { found: 1 },
            ],
        ),
    ];
    for (password, expected) in cases {
        assert_eq!(
            violations(&policy, password, &names),
            expected,
            "{password:?}"
        );
    }
    let long = "Aa1!".repeat(65);
    assert_eq!(
        violations(&policy, &long, &names),
        vec![Violation::TooLong {
            actual: 260,
            max: 256
        }]
    );
}

#[test]
fn short_names_are_not_checked() {
    let policy = PasswordPolicy::default();
    let names = AccountNames {
        sam_account_name: Some("js"),
        display_name: Some("Li, Jo"),
    };
    assert_eq!(violations(&policy, "js-Li-Jo-2024-xyz", &names), vec![]);
}

#[test]
fn messages_are_specific_and_never_quote_the_password() {
    let policy = PasswordPolicy::default();
    let names = AccountNames {
        sam_account_name: Some("jsmith"),
        display_name: Some("Smith, John"),
    };
    let password = SecretString::from("jsmith\tjohn");
    let err = policy.validate(&password, &names).unwrap_err();
    let text = err.to_string();
    assert_eq!(
        text,
        "the password has 11 characters; at least 14 are required; \
         the password contains a control character; \
         the password uses 1 of the character categories uppercase letters, lowercase letters, \
         digits, symbols and letters without case; at least 3 are required; \
         the password contains the account name; \
         the password contains \"Smith\" from the display name; \
         the password contains \"John\" from the display name"
    );
    let debug = format!("{err:?}");
    for shown in [&text, &debug] {
        assert!(!shown.contains(password.expose()));
        assert!(!shown.contains("jsmith\t"));
    }
    let std_err: &dyn std::error::Error = &err;
    assert_eq!(std_err.to_string(), text);

    // A password made of nothing but secrets: no message shows any of it.
    let policy = PasswordPolicy::default();
    let secret = "Qx7#Vb2!Lm9$";
    let err = policy
        .validate(&SecretString::from(secret), &AccountNames::default())
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    for window in secret.as_bytes().windows(3) {
        assert!(
            !shown.contains(std::str::from_utf8(window).unwrap()),
            "{shown}"
        );
    }
}

#[test]
fn serde_fills_defaults_and_refuses_unknown_keys() {
    let policy: PasswordPolicy =
        serde_json::from_str(r#"{"length": 32, "exclude": "0O1lI"}"#).unwrap();
    assert_eq!(
        policy,
        PasswordPolicy {
            length: 32,
            exclude: "0O1lI".into(),
            ..PasswordPolicy::default()
        }
    );
    let empty: PasswordPolicy = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, PasswordPolicy::default());
    let err = serde_json::from_str::<PasswordPolicy>(r#"{"lenght": 32}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `lenght`"), "{err}");
    let round: PasswordPolicy =
        serde_json::from_str(&serde_json::to_string(&policy).unwrap()).unwrap();
    assert_eq!(round, policy);
}
