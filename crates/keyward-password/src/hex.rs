//! Hex encoding and SHA-256 digests for values that are stored as lookup hashes, and the one
//! constant-time check of a presented secret against such a hash.

use std::fmt::Write as _;

use subtle::ConstantTimeEq;

/// Lower-case hex of `bytes`.
pub fn lower_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            // Writing into a String cannot fail.
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// Lower-case hex SHA-256 of `data`: for high-entropy secrets such as API tokens, whose hash
/// is a lookup key, not a password hash.
pub fn sha256_hex(data: &[u8]) -> String {
    lower_hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

/// Whether `presented` is the secret whose [`sha256_hex`] is `stored_hex`: the presented secret
/// is hashed first, so the comparison is between two digests of the same length, in constant
/// time, and shows nothing of the secret's length or of where it differs. For high-entropy
/// secrets (tokens, workstation credentials, key proofs); never for passwords.
pub fn sha256_matches(stored_hex: &str, presented: &[u8]) -> bool {
    let presented = sha256_hex(presented);
    presented.as_bytes().ct_eq(stored_hex.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_secret_itself_matches_its_hash() {
        let stored = sha256_hex(b"kw-secret");
        assert!(sha256_matches(&stored, b"kw-secret"));
        assert!(!sha256_matches(&stored, b"kw-secreT"));
        assert!(!sha256_matches(&stored, b""));
        // The hash itself is not the secret, nor is a hash of another case.
        assert!(!sha256_matches(&stored, stored.as_bytes()));
        assert!(!sha256_matches(&stored.to_uppercase(), b"kw-secret"));
        // A stored value of another length (corrupt) matches nothing.
        assert!(!sha256_matches("", b""));
        assert!(!sha256_matches(&stored[..10], b"kw-secret"));
    }

    #[test]
    fn known_answers() {
        assert_eq!(lower_hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
