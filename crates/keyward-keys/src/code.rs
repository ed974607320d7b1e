//! Activation codes: drawn from a CSPRNG, shown once, kept only as a slow salted hash, expiring,
//! with a limited number of attempts, compared in constant time.
//!
//! With a [`CodePepper`] (a secret the service derives from its key-encryption key), the slow
//! hash is taken of HMAC-SHA256(pepper, code) instead of the code, so a copy of the database
//! alone does not allow an offline search of the 10^8 possible codes.

use std::fmt;
use std::num::NonZeroU32;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use ring::pbkdf2;
use ring::rand::SecureRandom;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Error;

/// PBKDF2-HMAC-SHA256 rounds for activation-code hashes. Codes are short (10^8 for 8 digits), so
/// the hash must be slow; attempts are limited online, and this protects a leaked database.
pub const DEFAULT_CODE_ITERATIONS: u32 = 100_000;

const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;
const HASH_PREFIX: &str = "pbkdf2-sha256";
const PEPPERED_PREFIX: &str = "pbkdf2-sha256-hmac";

/// A secret mixed into activation-code hashes; it never lives in the database.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct CodePepper([u8; 32]);

impl CodePepper {
    /// A pepper from 32 secret bytes (derived from the key-encryption key).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// HMAC-SHA256 of the code under the pepper: what the slow hash is taken of.
    fn mix(&self, code: &[u8]) -> [u8; 32] {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let tag = ring::hmac::sign(&key, code);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

impl fmt::Debug for CodePepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodePepper([redacted])")
    }
}

/// How activation codes are made and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivationCodePolicy {
    /// Digits per code, 6 to 12.
    pub length: u8,
    /// How long a code stays valid.
    pub ttl: Duration,
    /// Wrong attempts allowed before the key locks, 1 to 10.
    pub max_attempts: u8,
    /// PBKDF2 rounds (use [`DEFAULT_CODE_ITERATIONS`] outside tests).
    pub iterations: NonZeroU32,
}

impl Default for ActivationCodePolicy {
    fn default() -> Self {
        Self {
            length: 8,
            ttl: Duration::hours(72),
            max_attempts: 3,
            iterations: NonZeroU32::new(DEFAULT_CODE_ITERATIONS).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// A code in clear: shown once to the administrator, never stored or logged.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct ActivationCode(String);

impl ActivationCode {
    /// The digits. Show them once; never log them.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ActivationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ActivationCode([redacted])")
    }
}

impl fmt::Display for ActivationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The stored form of a code: salt, rounds and PBKDF2 output, and whether a pepper went in.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeHash {
    salt: [u8; SALT_LEN],
    hash: [u8; HASH_LEN],
    iterations: NonZeroU32,
    peppered: bool,
}

impl CodeHash {
    /// The text to store: `pbkdf2-sha256$ROUNDS$SALT$HASH` (base64 without padding), or
    /// `pbkdf2-sha256-hmac$…` when the code was peppered.
    pub fn encode(&self) -> String {
        format!(
            "{}${}${}${}",
            self.prefix(),
            self.iterations,
            STANDARD_NO_PAD.encode(self.salt),
            STANDARD_NO_PAD.encode(self.hash)
        )
    }

    /// Parses stored text written by [`CodeHash::encode`].
    pub fn decode(text: &str) -> crate::Result<Self> {
        let bad = || Error::InvalidInput("stored activation-code hash is malformed".into());
        let mut parts = text.split('$');
        let peppered = match parts.next() {
            Some(HASH_PREFIX) => false,
            Some(PEPPERED_PREFIX) => true,
            _ => return Err(bad()),
        };
        let iterations = parts
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .and_then(NonZeroU32::new)
            .ok_or_else(bad)?;
        let salt = parts
            .next()
            .and_then(|s| STANDARD_NO_PAD.decode(s).ok())
            .and_then(|v| <[u8; SALT_LEN]>::try_from(v).ok())
            .ok_or_else(bad)?;
        let hash = parts
            .next()
            .and_then(|s| STANDARD_NO_PAD.decode(s).ok())
            .and_then(|v| <[u8; HASH_LEN]>::try_from(v).ok())
            .ok_or_else(bad)?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Self {
            salt,
            hash,
            iterations,
            peppered,
        })
    }

    /// Whether the code was peppered when it was hashed.
    pub fn is_peppered(&self) -> bool {
        self.peppered
    }

    /// Whether `presented` is the code, compared in constant time. Spaces and dashes are
    /// ignored (people type `1234-5678`). Slow on purpose (PBKDF2): call it off async workers.
    /// A peppered hash without the pepper is an error, not a mismatch.
    pub fn matches(&self, presented: &str, pepper: Option<&CodePepper>) -> crate::Result<bool> {
        let mut cleaned: String = presented
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let mut input = match (self.peppered, pepper) {
            (true, Some(pepper)) => pepper.mix(cleaned.as_bytes()).to_vec(),
            (true, None) => {
                cleaned.zeroize();
                return Err(Error::PepperMissing);
            }
            (false, _) => cleaned.as_bytes().to_vec(),
        };
        cleaned.zeroize();
        // ring's verify compares in constant time.
        let right = pbkdf2::verify(
            pbkdf2::PBKDF2_HMAC_SHA256,
            self.iterations,
            &self.salt,
            &input,
            &self.hash,
        )
        .is_ok();
        input.zeroize();
        Ok(right)
    }

    fn prefix(&self) -> &'static str {
        if self.peppered {
            PEPPERED_PREFIX
        } else {
            HASH_PREFIX
        }
    }
}

impl fmt::Debug for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeHash({}, {} rounds)", self.prefix(), self.iterations)
    }
}

/// A newly issued code: the clear code to show once, and what to store.
#[derive(Debug)]
pub struct IssuedCode {
    /// Show once.
    pub code: ActivationCode,
    /// Store.
    pub hash: CodeHash,
    /// Store; the code is refused after this instant.
    pub expires_at: DateTime<Utc>,
}

/// The verdict on a presented code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right code, in time, attempts left.
    Accepted,
    /// Wrong code; this many attempts remain.
    Wrong {
        /// Attempts left before the key locks.
        attempts_left: u8,
    },
    /// Wrong code and no attempts remain: the key must lock.
    Exhausted,
    /// The code has expired; nothing was compared and no attempt is counted.
    Expired,
}

impl ActivationCodePolicy {
    /// Checks the policy's bounds.
    pub fn validate(&self) -> crate::Result<()> {
        if !(6..=12).contains(&self.length) {
            return Err(Error::InvalidPolicy("length must be 6 to 12 digits"));
        }
        if !(1..=10).contains(&self.max_attempts) {
            return Err(Error::InvalidPolicy("max_attempts must be 1 to 10"));
        }
        if self.ttl < Duration::minutes(5) || self.ttl > Duration::days(30) {
            return Err(Error::InvalidPolicy(
                "ttl must be between 5 minutes and 30 days",
            ));
        }
        Ok(())
    }

    /// Issues a new code valid from `now`, peppered when a pepper is given. Slow on purpose
    /// (PBKDF2): call it off async workers.
    pub fn issue(
        &self,
        now: DateTime<Utc>,
        rng: &dyn SecureRandom,
        pepper: Option<&CodePepper>,
    ) -> crate::Result<IssuedCode> {
        self.validate()?;
        let code = ActivationCode(random_digits(self.length, rng)?);
        let mut salt = [0u8; SALT_LEN];
        rng.fill(&mut salt).map_err(|_| Error::Random)?;
        let mut input = match pepper {
            Some(pepper) => pepper.mix(code.0.as_bytes()).to_vec(),
            None => code.0.as_bytes().to_vec(),
        };
        let mut hash = [0u8; HASH_LEN];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            self.iterations,
            &salt,
            &input,
            &mut hash,
        );
        input.zeroize();
        Ok(IssuedCode {
            code,
            hash: CodeHash {
                salt,
                hash,
                iterations: self.iterations,
                peppered: pepper.is_some(),
            },
            expires_at: now + self.ttl,
        })
    }

    /// The verdict on a wrong code that was attempt number `attempt` (counting it, from 1):
    /// the attempts left, or [`CodeCheck::Exhausted`] when it was the last one allowed.
    pub fn judge_wrong(&self, attempt: u8) -> CodeCheck {
        if attempt >= self.max_attempts {
            CodeCheck::Exhausted
        } else {
            CodeCheck::Wrong {
                attempts_left: self.max_attempts - attempt,
            }
        }
    }

    /// Judges `presented` against the stored code in one step, for callers that hold the
    /// attempt count themselves. `attempts_used` counts earlier wrong tries. A service with
    /// concurrent callers counts the attempt first (so N parallel guesses count N) and then uses
    /// [`CodeHash::matches`] and [`ActivationCodePolicy::judge_wrong`].
    pub fn check(
        &self,
        stored: &CodeHash,
        expires_at: DateTime<Utc>,
        attempts_used: u8,
        presented: &str,
        now: DateTime<Utc>,
        pepper: Option<&CodePepper>,
    ) -> crate::Result<CodeCheck> {
        if now > expires_at {
            return Ok(CodeCheck::Expired);
        }
        if attempts_used >= self.max_attempts {
            return Ok(CodeCheck::Exhausted);
        }
        if stored.matches(presented, pepper)? {
            return Ok(CodeCheck::Accepted);
        }
        Ok(self.judge_wrong(attempts_used.saturating_add(1)))
    }
}

/// `count` decimal digits, each uniform: bytes of 250 and above are redrawn so that `% 10` has no
/// bias.
fn random_digits(count: u8, rng: &dyn SecureRandom) -> crate::Result<String> {
    let mut out = String::with_capacity(count.into());
    let mut buffer = [0u8; 32];
    while out.len() < usize::from(count) {
        rng.fill(&mut buffer).map_err(|_| Error::Random)?;
        for b in buffer {
            if b < 250 && out.len() < usize::from(count) {
                out.push(char::from(b'0' + b % 10));
            }
        }
    }
    buffer.zeroize();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    fn fast() -> ActivationCodePolicy {
        ActivationCodePolicy {
            iterations: NonZeroU32::new(1_000).unwrap(),
            ..ActivationCodePolicy::default()
        }
    }

    #[test]
    fn codes_are_digits_of_the_configured_length_and_unique_enough() {
        let rng = SystemRandom::new();
        let now = Utc::now();
        let mut seen = std::collections::HashSet::new();
        for length in [6u8, 8, 12] {
            let policy = ActivationCodePolicy { length, ..fast() };
            for _ in 0..50 {
                let issued = policy.issue(now, &rng, None).unwrap();
                assert_eq!(issued.code.expose().len(), usize::from(length));
                assert!(issued.code.expose().bytes().all(|b| b.is_ascii_digit()));
                assert_eq!(issued.expires_at, now + Duration::hours(72));
                seen.insert(issued.code.expose().to_owned());
            }
        }
        assert!(
            seen.len() > 140,
            "150 random codes should almost never collide"
        );
    }

    #[test]
    fn digits_are_uniform() {
        let rng = SystemRandom::new();
        let mut counts = [0u32; 10];
        let text = random_digits(200, &rng).unwrap()
            + &(0..99)
                .map(|_| random_digits(200, &rng).unwrap())
                .collect::<String>();
        for b in text.bytes() {
            counts[usize::from(b - b'0')] += 1;
        }
        // 20,000 digits: each count is 2,000 ± ~42 (1 sd); 300 is over 7 sd.
        for c in counts {
            assert!((1700..2300).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn check_accepts_right_counts_wrong_and_expires() {
        let rng = SystemRandom::new();
        let now = Utc::now();
        let policy = fast();
        let issued = policy.issue(now, &rng, None).unwrap();
        let code = issued.code.expose().to_owned();
        let dashed = format!("{}-{}", &code[..4], &code[4..]);
        assert_eq!(
            policy
                .check(&issued.hash, issued.expires_at, 0, &dashed, now, None)
                .unwrap(),
            CodeCheck::Accepted
        );
        let wrong = if code == "00000000" {
            "11111111"
        } else {
            "00000000"
        };
        assert_eq!(
            policy
                .check(&issued.hash, issued.expires_at, 0, wrong, now, None)
                .unwrap(),
            CodeCheck::Wrong { attempts_left: 2 }
        );
        assert_eq!(
            policy
                .check(&issued.hash, issued.expires_at, 1, wrong, now, None)
                .unwrap(),
            CodeCheck::Wrong { attempts_left: 1 }
        );
        assert_eq!(
            policy
                .check(&issued.hash, issued.expires_at, 2, wrong, now, None)
                .unwrap(),
            CodeCheck::Exhausted
        );
        assert_eq!(
            policy
                .check(&issued.hash, issued.expires_at, 3, &code, now, None)
                .unwrap(),
            CodeCheck::Exhausted
        );
        let later = issued.expires_at + Duration::seconds(1);
        assert_eq!(
            policy
                .check(&issued.hash, issued.expires_at, 0, &code, later, None)
                .unwrap(),
            CodeCheck::Expired
        );
    }

    #[test]
    fn a_peppered_hash_needs_its_pepper() {
        let rng = SystemRandom::new();
        let pepper = CodePepper::from_bytes([7; 32]);
        let other = CodePepper::from_bytes([8; 32]);
        let issued = fast().issue(Utc::now(), &rng, Some(&pepper)).unwrap();
        let code = issued.code.expose().to_owned();
        let stored = CodeHash::decode(&issued.hash.encode()).unwrap();
        assert!(stored.is_peppered());
        assert!(issued.hash.encode().starts_with("pbkdf2-sha256-hmac$"));
        assert!(stored.matches(&code, Some(&pepper)).unwrap());
        // The right code under another pepper, or the bare PBKDF2 of the code (what an
        // offline search of a copied database would compute), does not match.
        assert!(!stored.matches(&code, Some(&other)).unwrap());
        assert_eq!(stored.matches(&code, None), Err(Error::PepperMissing));
        let unpeppered = fast().issue(Utc::now(), &rng, None).unwrap();
        assert!(!unpeppered.hash.is_peppered());
        // A hash made without a pepper still verifies once a pepper is configured.
        assert!(
            unpeppered
                .hash
                .matches(unpeppered.code.expose(), Some(&pepper))
                .unwrap()
        );
        assert!(!format!("{pepper:?}").contains('7'));
    }

    #[test]
    fn wrong_attempts_are_judged_by_their_number() {
        let policy = fast();
        assert_eq!(policy.judge_wrong(1), CodeCheck::Wrong { attempts_left: 2 });
        assert_eq!(policy.judge_wrong(2), CodeCheck::Wrong { attempts_left: 1 });
        assert_eq!(policy.judge_wrong(3), CodeCheck::Exhausted);
        assert_eq!(policy.judge_wrong(9), CodeCheck::Exhausted);
    }

    #[test]
    fn hashes_round_trip_and_reveal_nothing() {
        let rng = SystemRandom::new();
        let issued = fast().issue(Utc::now(), &rng, None).unwrap();
        let text = issued.hash.encode();
        assert!(!text.contains(issued.code.expose()));
        assert_eq!(CodeHash::decode(&text).unwrap(), issued.hash);
        assert!(!format!("{:?} {}", issued.code, issued.code).contains(issued.code.expose()));
        for bad in [
            "",
            "pbkdf2-sha256$0$AA$AA",
            "md5$1$AA$AA",
            &format!("{text}$x"),
        ] {
            assert!(CodeHash::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn policy_bounds() {
        assert!(ActivationCodePolicy::default().validate().is_ok());
        assert!(
            ActivationCodePolicy {
                length: 5,
                ..fast()
            }
            .validate()
            .is_err()
        );
        assert!(
            ActivationCodePolicy {
                max_attempts: 0,
                ..fast()
            }
            .validate()
            .is_err()
        );
        assert!(
            ActivationCodePolicy {
                ttl: Duration::minutes(1),
                ..fast()
            }
            .validate()
            .is_err()
        );
    }
}
