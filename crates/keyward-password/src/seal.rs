//! AES-256-GCM sealing bound to a purpose and a row.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, NONCE_LEN, Nonce};
use ring::rand::SecureRandom;

use crate::{Error, Kek, SecretBytes};

/// The prefix of every sealed value this version writes; a later format gets a new prefix.
const VERSION_PREFIX: &str = "kw1.";
const TAG_LEN: usize = 16;

/// What a ciphertext is for: its purpose and the row it belongs to. Both go into the
/// associated data, so the ciphertext opens only in the same context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealContext {
    aad: Vec<u8>,
}

impl SealContext {
    /// A context for `purpose` (a stable dotted name such as `directory.bind_password`) and `row`
    /// (the row's primary key as text).
    pub fn new(purpose: &str, row: &str) -> crate::Result<Self> {
        if purpose.is_empty() || purpose.contains('\0') {
            return Err(Error::InvalidContext { part: "purpose" });
        }
        if row.is_empty() || row.contains('\0') {
            return Err(Error::InvalidContext { part: "row" });
        }
        let mut aad = b"keyward-seal-v1\0".to_vec();
        aad.extend_from_slice(purpose.as_bytes());
        aad.push(0);
        aad.extend_from_slice(row.as_bytes());
        Ok(Self { aad })
    }
}

/// A sealed value as stored: `kw1.` followed by unpadded URL-safe base64 of nonce, ciphertext
/// and tag. It is not secret, but it is not shown to people either.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(String);

impl Sealed {
    /// Wraps stored text; the format is checked when it is opened.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }
    /// The text to store.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

impl Kek {
    /// Seals `plaintext` for `context` with a fresh random nonce.
    pub fn seal(
        &self,
        plaintext: &[u8],
        context: &SealContext,
        rng: &dyn SecureRandom,
    ) -> crate::Result<Sealed> {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        rng.fill(&mut nonce_bytes).map_err(|_| Error::Random)?;
        let mut buffer = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        buffer.extend_from_slice(&nonce_bytes);
        buffer.extend_from_slice(plaintext);
        let (_, in_out) = buffer.split_at_mut(NONCE_LEN);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.aad.as_slice()),
                in_out,
            )
            .map_err(|_| Error::CannotOpen)?;
        buffer.extend_from_slice(tag.as_ref());
        Ok(Sealed(format!(
            "{VERSION_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(&buffer)
        )))
    }

    /// Opens a value sealed for `context`.
    pub fn open(&self, sealed: &Sealed, context: &SealContext) -> crate::Result<SecretBytes> {
        let Some(body) = sealed.0.strip_prefix(VERSION_PREFIX) else {
            return Err(Error::Malformed {
                reason: "it does not start with the version prefix 'kw1.'",
            });
        };
        let mut bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| Error::Malformed {
            reason: "it is not URL-safe base64",
        })?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::Malformed {
                reason: "it is too short to hold a nonce and a tag",
            });
        }
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(&bytes[..NONCE_LEN]);
        let plain_len = {
            let plain = self
                .key
                .open_in_place(
                    Nonce::assume_unique_for_key(nonce_bytes),
                    Aad::from(context.aad.as_slice()),
                    &mut bytes[NONCE_LEN..],
                )
                .map_err(|_| Error::CannotOpen)?;
            plain.len()
        };
        let plaintext = bytes[NONCE_LEN..NONCE_LEN + plain_len].to_vec();
        zeroize::Zeroize::zeroize(&mut bytes);
        Ok(SecretBytes::new(plaintext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ring::rand::SystemRandom;

    fn ctx(row: &str) -> SealContext {
        SealContext::new("test.purpose", row).unwrap()
    }

    #[test]
    fn round_trip_and_fresh_nonces() {
        let rng = SystemRandom::new();
        let kek = Kek::generate(&rng).unwrap();
        let a = kek.seal(b"secret", &ctx("1"), &rng).unwrap();
        let b = kek.seal(b"secret", &ctx("1"), &rng).unwrap();
        assert_ne!(a, b, "two seals of one value must differ (random nonce)");
        assert_eq!(kek.open(&a, &ctx("1")).unwrap().expose(), b"secret");
        assert!(!a.as_str().contains("secret"));
        assert!(!format!("{a:?}").contains(a.as_str()));
    }

    #[test]
    fn wrong_key_row_or_purpose_cannot_open() {
        let rng = SystemRandom::new();
        let kek = Kek::generate(&rng).unwrap();
        let other = Kek::generate(&rng).unwrap();
        let sealed = kek.seal(b"secret", &ctx("1"), &rng).unwrap();
        assert_eq!(
            other.open(&sealed, &ctx("1")).unwrap_err(),
            Error::CannotOpen
        );
        assert_eq!(kek.open(&sealed, &ctx("2")).unwrap_err(), Error::CannotOpen);
        let purpose = SealContext::new("other.purpose", "1").unwrap();
        assert_eq!(kek.open(&sealed, &purpose).unwrap_err(), Error::CannotOpen);
    }

    #[test]
    fn context_parts_cannot_be_confused() {
        // "a\0b" + "c" must not equal "a" + "b\0c": NUL is refused in both parts.
        assert!(SealContext::new("a\0b", "c").is_err());
        assert!(SealContext::new("a", "b\0c").is_err());
        assert!(SealContext::new("", "c").is_err());
        assert!(SealContext::new("a", "").is_err());
    }

    #[test]
    fn malformed_values_are_named() {
        let kek = Kek::from_bytes(&[1; 32]).unwrap();
        for (text, want) in [
            ("plain", "version prefix"),
            ("kw1.***", "base64"),
            ("kw1.AAAA", "too short"),
        ] {
            let err = kek
                .open(&Sealed::from_stored(text.into()), &ctx("1"))
                .unwrap_err();
            assert!(err.to_string().contains(want), "{text}: {err}");
        }
    }

    proptest! {
        #[test]
        fn any_single_byte_change_is_detected(plain in proptest::collection::vec(any::<u8>(), 0..64), pos in any::<usize>(), flip in 1u8..=255) {
            let rng = SystemRandom::new();
            let kek = Kek::from_bytes(&[9; 32]).unwrap();
            let sealed = kek.seal(&plain, &ctx("row"), &rng).unwrap();
            let mut raw = URL_SAFE_NO_PAD.decode(&sealed.as_str()[4..]).unwrap();
            let i = pos % raw.len();
            raw[i] ^= flip;
            let tampered = Sealed::from_stored(format!("kw1.{}", URL_SAFE_NO_PAD.encode(&raw)));
            prop_assert_eq!(kek.open(&tampered, &ctx("row")).unwrap_err(), Error::CannotOpen);
            let opened = kek.open(&sealed, &ctx("row")).unwrap();
            prop_assert_eq!(opened.expose(), plain.as_slice());
        }
    }
}
