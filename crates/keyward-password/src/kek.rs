//! The key-encryption key: where it comes from and what it seals.

use std::fmt;
use std::num::NonZeroU32;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use ring::rand::SecureRandom;
use zeroize::Zeroizing;

use crate::{Error, SecretString};

/// PBKDF2-HMAC-SHA256 rounds for passphrase-derived keys (OWASP's 2023 figure for this PRF).
pub const KDF_ITERATIONS: u32 = 600_000;

/// Shortest passphrase accepted for deriving a key.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

const KEY_LEN: usize = 32;

/// A 256-bit AES-GCM key that seals every secret keyward stores.
///
/// `Debug` shows only a fingerprint (the first 8 hex digits of SHA-256 of the key) so that logs
/// can tell two keys apart without revealing either.
pub struct Kek {
    pub(crate) key: LessSafeKey,
    /// HKDF pseudo-random key over the same bytes, for keys of other purposes.
    derive: ring::hkdf::Prk,
    fingerprint: String,
}

impl Kek {
    /// Builds a key from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> crate::Result<Self> {
        if bytes.len() != KEY_LEN {
            return Err(Error::KeyLength { found: bytes.len() });
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| Error::KeyLength { found: bytes.len() })?;
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let fingerprint = crate::hex::lower_hex(&digest.as_ref()[..4]);
        Ok(Self {
            key: LessSafeKey::new(unbound),
            // The key is 256 uniformly random bits (a key file) or a KDF output, so it serves as
            // HKDF's pseudo-random key without an extract step.
            derive: ring::hkdf::Prk::new_less_safe(ring::hkdf::HKDF_SHA256, bytes),
            fingerprint,
        })
    }

    /// Reads the contents of a key file: one line, the standard base64 of 32 bytes. Surrounding
    /// whitespace is ignored.
    pub fn from_key_file_contents(contents: &str) -> crate::Result<Self> {
        let text = contents.trim();
        if text.is_empty() {
            return Err(Error::KeyFileFormat {
                reason: "it is empty",
            });
        }
        let bytes = Zeroizing::new(STANDARD.decode(text).map_err(|_| Error::KeyFileFormat {
            reason: "it is not base64",
        })?);
        if bytes.len() != KEY_LEN {
            return Err(Error::KeyFileFormat {
                reason: "it does not decode to 32 bytes",
            });
        }
        Self::from_bytes(&bytes)
    }

    /// Derives a key from a passphrase with PBKDF2-HMAC-SHA256 and `iterations` rounds (use
    /// [`KDF_ITERATIONS`] outside tests). The salt must be at least 16 bytes and stored beside
    /// the data it protects.
    pub fn derive_from_passphrase(
        passphrase: &SecretString,
        salt: &[u8],
        iterations: NonZeroU32,
    ) -> crate::Result<Self> {
        if passphrase.expose().chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(Error::WeakPassphrase {
                min: MIN_PASSPHRASE_CHARS,
            });
        }
        if salt.len() < 16 {
            return Err(Error::ShortSalt);
        }
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            salt,
            passphrase.expose().as_bytes(),
            out.as_mut(),
        );
        Self::from_bytes(out.as_ref())
    }

    /// A new random key.
    pub fn generate(rng: &dyn SecureRandom) -> crate::Result<Self> {
        Self::from_bytes(Self::generate_key_file_bytes(rng)?.as_ref())
    }

    /// New random key material, for writing a key file with [`Kek::key_file_contents`].
    pub fn generate_key_file_bytes(rng: &dyn SecureRandom) -> crate::Result<Zeroizing<[u8; 32]>> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill(bytes.as_mut()).map_err(|_| Error::Random)?;
        Ok(bytes)
    }

    /// The text of a key file holding `bytes` (base64 and a newline).
    pub fn key_file_contents(bytes: &[u8; 32]) -> SecretString {
        SecretString::new(format!("{}\n", STANDARD.encode(bytes)))
    }

    /// A 256-bit key for another purpose (HKDF-SHA256 expand with `purpose` as the info), so
    /// one configured secret can key other mechanisms without the sealing key itself being
    /// reused. Each purpose string gives an independent key.
    pub fn derive_key(&self, purpose: &str) -> crate::Result<Zeroizing<[u8; 32]>> {
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        self.derive
            .expand(&[purpose.as_bytes()], ring::hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(out.as_mut()))
            .map_err(|_| Error::Random)?;
        Ok(out)
    }

    /// A short, non-secret fingerprint that tells keys apart in logs.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kek(fingerprint {})", self.fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    #[test]
    fn derived_keys_differ_by_purpose_and_by_kek() {
        let rng = SystemRandom::new();
        let kek = Kek::generate(&rng).unwrap();
        let other = Kek::generate(&rng).unwrap();
        let a = kek.derive_key("purpose a").unwrap();
        assert_eq!(*a, *kek.derive_key("purpose a").unwrap());
        assert_ne!(*a, *kek.derive_key("purpose b").unwrap());
        assert_ne!(*a, *other.derive_key("purpose a").unwrap());
    }

    #[test]
    fn key_file_round_trip() {
        let rng = SystemRandom::new();
        let bytes = Kek::generate_key_file_bytes(&rng).unwrap();
        let text = Kek::key_file_contents(&bytes);
        let a = Kek::from_key_file_contents(text.expose()).unwrap();
        let b = Kek::from_bytes(bytes.as_ref()).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn bad_key_files_are_clear_errors() {
        assert_eq!(
            Kek::from_key_file_contents("  \n").unwrap_err(),
            Error::KeyFileFormat {
                reason: "it is empty"
            }
        );
        assert_eq!(
            Kek::from_key_file_contents("not base64!!").unwrap_err(),
            Error::KeyFileFormat {
                reason: "it is not base64"
            }
        );
        assert_eq!(
            Kek::from_key_file_contents("c2hvcnQ=").unwrap_err(),
            Error::KeyFileFormat {
                reason: "it does not decode to 32 bytes"
            }
        );
        assert_eq!(
            Kek::from_bytes(&[0; 31]).unwrap_err(),
            Error::KeyLength { found: 31 }
        );
    }

    #[test]
    fn passphrase_derivation_is_deterministic_per_salt() {
        let rounds = NonZeroU32::new(1_000).unwrap();
        let pass = SecretString::from("correct horse battery staple");
        let a = Kek::derive_from_passphrase(&pass, b"0123456789abcdef", rounds).unwrap();
        let b = Kek::derive_from_passphrase(&pass, b"0123456789abcdef", rounds).unwrap();
        let c = Kek::derive_from_passphrase(&pass, b"fedcba9876543210", rounds).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(
            Kek::derive_from_passphrase(&SecretString::from("short"), b"0123456789abcdef", rounds)
                .unwrap_err(),
            Error::WeakPassphrase {
                min: MIN_PASSPHRASE_CHARS
            }
        );
        assert_eq!(
            Kek::derive_from_passphrase(&pass, b"salt", rounds).unwrap_err(),
            Error::ShortSalt
        );
    }

    #[test]
    fn debug_shows_only_a_fingerprint() {
        let kek = Kek::from_bytes(&[7; 32]).unwrap();
        let shown = format!("{kek:?}");
        assert!(shown.starts_with("Kek(fingerprint "));
        assert_eq!(kek.fingerprint().len(), 8);
    }
}
