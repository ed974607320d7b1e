//! The password generator: every character drawn from CSPRNG bytes by rejection sampling.
//!
//! A byte is turned into an index below `n` only when it falls below the largest multiple of
//! `n` that fits in 256; the bytes above it are thrown away. Taking `byte % n` of every byte
//! would favour the first `256 % n` characters (for 62 characters, eight of them would come up
//! a quarter more often than the rest). Alphabets have at most 90 characters, so fewer than
//! three bytes in ten are thrown away.
//!
//! A candidate that misses an enabled class or contains an account name is thrown away whole
//! and drawn again. Fixing a candidate up (replacing a character with one of the missing class)
//! would make some passwords likelier than others; drawing again keeps every acceptable
//! password equally likely.

use ring::rand::SecureRandom;
use zeroize::Zeroizing;

use crate::policy::{AccountNames, CharClass, NameRule, PasswordPolicy, name_rules};
use crate::{Error, SecretString};

/// Candidates drawn before giving up. Every policy `check` accepts succeeds within a few
/// hundred draws with overwhelming probability; only names that cover much of a tiny
/// alphabet come near this.
const MAX_ATTEMPTS: u32 = 10_000;

/// Bytes rejected in a row before the random source is deemed broken (a stuck source must not
/// make the generator spin forever). A working source rejects at most 76 byte values of 256
/// (alphabet of 90), so this many rejections in a row happen with a probability below
/// 10^-130; a source that counts through every byte value never comes near it either.
const MAX_REJECTIONS_IN_A_ROW: u32 = 256;

/// Random bytes fetched from the source at a time.
const BUFFER_BYTES: usize = 64;

/// Where random bytes come from; `ring`'s [`SecureRandom`] outside tests. It is sealed, so the
/// tests give a deterministic closure instead.
type FillBytes<'a> = dyn FnMut(&mut [u8]) -> Result<(), Error> + 'a;

/// Maps a random byte to an index below `n` without bias, or rejects it.
///
/// Bytes at or above `256 - 256 % n` are rejected: below that bound every index is hit by
/// exactly the same number of byte values. `n` must be 1 to 256; other values reject every
/// byte.
pub(crate) fn accept_byte(byte: u8, n: usize) -> Option<usize> {
    if n == 0 || n > 256 {
        return None;
    }
    let limit = 256 - 256 % n;
    let value = usize::from(byte);
    (value < limit).then_some(value % n)
}

/// Draws unbiased indices from a byte source, fetching bytes in blocks.
struct Sampler<'s, 'f> {
    fill: &'s mut FillBytes<'f>,
    buffer: Zeroizing<[u8; BUFFER_BYTES]>,
    next: usize,
}

impl<'s, 'f> Sampler<'s, 'f> {
    fn new(fill: &'s mut FillBytes<'f>) -> Self {
        Self {
            fill,
            buffer: Zeroizing::new([0; BUFFER_BYTES]),
            next: BUFFER_BYTES,
        }
    }

    fn next_byte(&mut self) -> Result<u8, Error> {
        if self.next == BUFFER_BYTES {
            (self.fill)(&mut self.buffer[..])?;
            self.next = 0;
        }
        let byte = self.buffer[self.next];
        self.next += 1;
        Ok(byte)
    }

    /// An index below `n`, every value equally likely.
    fn index_below(&mut self, n: usize) -> Result<usize, Error> {
        for _ in 0..MAX_REJECTIONS_IN_A_ROW {
            if let Some(index) = accept_byte(self.next_byte()?, n) {
                return Ok(index);
            }
        }
        Err(Error::Random)
    }
}

impl PasswordPolicy {
    /// Generates a password of `length` characters with at least one character of each
    /// enabled class, not containing the account's names (the rules of
    /// [`validate`](Self::validate)), so that it passes `validate` of this policy.
    ///
    /// Every character is drawn from the alphabet (the enabled classes minus `exclude`) by
    /// rejection sampling on bytes of `rng`. Fails with [`Error::InvalidPolicy`] when
    /// [`check`](Self::check) does, with [`Error::Random`] when the random source fails, and
    /// with [`Error::GenerationFailed`] when no acceptable candidate turns up.
    pub fn generate(
        &self,
        names: &AccountNames<'_>,
        rng: &dyn SecureRandom,
    ) -> Result<SecretString, Error> {
        self.generate_from(names, &mut |buffer: &mut [u8]| {
            rng.fill(buffer).map_err(|_| Error::Random)
        })
    }

    /// [`generate`](Self::generate) with any byte source.
    fn generate_from(
        &self,
        names: &AccountNames<'_>,
        fill: &mut FillBytes<'_>,
    ) -> Result<SecretString, Error> {
        self.check()?;
        let classes = self.enabled_classes();
        let alphabet: Vec<char> = classes
            .iter()
            .flat_map(|class| self.class_alphabet(*class))
            .collect();
        let rules = name_rules(names);
        let length = usize::from(self.length);
        let mut sampler = Sampler::new(fill);
        // Every character is ASCII, so the capacity is never outgrown and no copy of a
        // candidate is left behind in freed memory.
        let mut candidate = Zeroizing::new(String::with_capacity(length));
        for _ in 0..MAX_ATTEMPTS {
            candidate.clear();
            for _ in 0..length {
                candidate.push(alphabet[sampler.index_below(alphabet.len())?]);
            }
            if acceptable(&candidate, &classes, &rules) {
                return Ok(SecretString::new(std::mem::take(&mut *candidate)));
            }
        }
        Err(Error::GenerationFailed {
            attempts: MAX_ATTEMPTS,
        })
    }
}

/// True when `candidate` has every class in `classes` and contains none of the names.
fn acceptable(candidate: &str, classes: &[CharClass], rules: &[NameRule]) -> bool {
    let has_every_class = classes
        .iter()
        .all(|class| candidate.chars().any(|c| class.members().contains(c)));
    if !has_every_class {
        return false;
    }
    let lowered = Zeroizing::new(candidate.to_lowercase());
    !rules
        .iter()
        .any(|rule| lowered.contains(rule.lowered.as_str()))
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;

    use super::*;

    /// A byte source that counts 0, 1, …, 255, 0, 1, … : every byte value equally often.
    fn counting_source() -> impl FnMut(&mut [u8]) -> Result<(), Error> {
        let mut next: u8 = 0;
        move |buffer: &mut [u8]| {
            for byte in buffer {
                *byte = next;
                next = next.wrapping_add(1);
            }
            Ok(())
        }
    }

    fn counts(n: usize, draws: usize, fill: &mut FillBytes<'_>) -> Vec<usize> {
        let mut sampler = Sampler::new(fill);
        let mut counts = vec![0; n];
        for _ in 0..draws {
            counts[sampler.index_below(n).unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn accept_byte_rejects_the_biased_tail() {
        for n in 1..=256 {
            let limit = 256 - 256 % n;
            for byte in 0..=u8::MAX {
                let expected = (usize::from(byte) < limit).then_some(usize::from(byte) % n);
                assert_eq!(accept_byte(byte, n), expected, "byte {byte}, n {n}");
            }
        }
        assert_eq!(accept_byte(254, 3), Some(2));
        assert_eq!(accept_byte(255, 3), None);
        assert_eq!(accept_byte(247, 62), Some(61));
        assert!((248..=255).all(|b| accept_byte(b, 62).is_none()));
        assert!((180..=255).all(|b| accept_byte(b, 90).is_none()));
        // Powers of two divide 256: nothing is thrown away.
        assert!((0..=255).all(|b| accept_byte(b, 64).is_some()));
        assert_eq!(accept_byte(0, 0), None);
        assert_eq!(accept_byte(0, 257), None);
    }

    #[test]
    fn every_byte_value_once_gives_every_index_equally_often() {
        // Over whole cycles of byte values the accepted bytes split exactly evenly; plain
        // `byte % n` would not (the check at the end shows the test would notice).
        for (n, per_cycle) in [(3, 85), (62, 4), (90, 2), (26, 9), (64, 4)] {
            let cycles = 40;
            let draws = n * per_cycle * cycles;
            let got = counts(n, draws, &mut counting_source());
            assert!(
                got.iter().all(|c| *c == per_cycle * cycles),
                "n {n}: {got:?}"
            );
        }
        let mut naive = [0usize; 62];
        for byte in 0..=255usize {
            naive[byte % 62] += 1;
        }
        assert_ne!(naive[0], naive[61]);
    }

    #[test]
    fn system_random_draws_pass_a_loose_chi_square_bound() {
        // 61 degrees of freedom: the statistic averages 61 with a standard deviation of 11;
        // above 200 has a probability below 10^-15. Plain `byte % 62` would put about 350 here.
        let n = 62;
        let expected: u32 = 1_000;
        let rng = SystemRandom::new();
        let mut fill = |buffer: &mut [u8]| rng.fill(buffer).map_err(|_| Error::Random);
        let got = counts(n, n * usize::try_from(expected).unwrap(), &mut fill);
        let chi_square: f64 = got
            .iter()
            .map(|c| {
                let d = f64::from(u32::try_from(*c).unwrap()) - f64::from(expected);
                d * d / f64::from(expected)
            })
            .sum();
        assert!(chi_square < 200.0, "chi-square {chi_square}: {got:?}");
    }

    #[test]
    fn a_source_that_never_gives_an_acceptable_byte_is_an_error() {
        let policy = PasswordPolicy::default();
        let mut fill = |buffer: &mut [u8]| {
            buffer.fill(0xff);
            Ok(())
        };
        let err = policy
            .generate_from(&AccountNames::default(), &mut fill)
            .unwrap_err();
        assert_eq!(err, Error::Random);
    }

    #[test]
    fn a_source_that_repeats_itself_exhausts_the_attempts() {
        // All zero bytes make "aaaa…", which never has every class.
        let policy = PasswordPolicy::default();
        let mut fill = |buffer: &mut [u8]| {
            buffer.fill(0);
            Ok(())
        };
        let err = policy
            .generate_from(&AccountNames::default(), &mut fill)
            .unwrap_err();
        assert_eq!(
            err,
            Error::GenerationFailed {
                attempts: MAX_ATTEMPTS
            }
        );
    }

    #[test]
    fn a_failing_source_is_an_error() {
        let mut fill = |_: &mut [u8]| Err(Error::Random);
        let err = PasswordPolicy::default()
            .generate_from(&AccountNames::default(), &mut fill)
            .unwrap_err();
        assert_eq!(err, Error::Random);
    }

    #[test]
    fn an_invalid_policy_generates_nothing() {
        let policy = PasswordPolicy {
            length: 4,
            ..PasswordPolicy::default()
        };
        let err = policy
            .generate(&AccountNames::default(), &SystemRandom::new())
            .unwrap_err();
        assert!(matches!(err, Error::InvalidPolicy(_)), "{err:?}");
    }

    #[test]
    fn the_generator_uses_the_sampler_in_alphabet_order() {
        // Counting bytes from zero pick the alphabet in order, so a long enough password shows
        // that characters are drawn one byte each from "a…zA…Z0…9" + symbols.
        let policy = PasswordPolicy {
            length: 90,
            min_length: 14,
            ..PasswordPolicy::default()
        };
        let password = policy
            .generate_from(&AccountNames::default(), &mut counting_source())
            .unwrap();
        let alphabet = format!(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789{}",
            crate::SYMBOLS
        );
        assert_eq!(password.expose(), alphabet);
    }
}
