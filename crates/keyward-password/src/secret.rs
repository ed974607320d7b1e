//! Secret containers that never show their contents by accident.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret text (password, bind password, token, activation code).
///
/// `Debug` and `Display` print `[redacted]`; the memory is overwritten on drop. The only way to
/// the text is [`SecretString::expose`], which makes every use visible in review.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Takes ownership of `value`.
    pub fn new(value: String) -> Self {
        Self(value)
    }
    /// The secret text. Never log or serialize it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Secret bytes, such as an opened ciphertext. Same rules as [`SecretString`].
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `value`.
    pub fn new(value: Vec<u8>) -> Self {
        Self(value)
    }
    /// The secret bytes. Never log or serialize them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    /// Converts to a [`SecretString`] when the bytes are UTF-8; the bytes are zeroized either way.
    pub fn into_secret_string(mut self) -> Option<SecretString> {
        let bytes = std::mem::take(&mut self.0);
        match String::from_utf8(bytes) {
            Ok(s) => Some(SecretString(s)),
            Err(e) => {
                let mut bytes = e.into_bytes();
                bytes.zeroize();
                None
            }
        }
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes([redacted])")
    }
}

impl fmt::Display for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_secret() {
        let s = SecretString::from("hunter2-very-secret");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert!(!format!("{:?}", Some(&s)).contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-very-secret");
        let b = SecretBytes::new(b"hunter2".to_vec());
        assert!(!format!("{b:?} {b}").contains("hunter2"));
    }

    #[test]
    fn utf8_conversion() {
        assert_eq!(
            SecretBytes::new(b"abc".to_vec())
                .into_secret_string()
                .unwrap()
                .expose(),
            "abc"
        );
        assert!(
            SecretBytes::new(vec![0xff, 0xfe])
                .into_secret_string()
                .is_none()
        );
    }
}
