//! Hex encoding and SHA-256 digests for values that are stored as lookup hashes.

use std::fmt::Write as _;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        assert_eq!(lower_hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
