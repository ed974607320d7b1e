//! The one error type of this crate.

/// What went wrong with a key or a sealed value. No variant carries secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Key material of the wrong size.
    #[error("a key-encryption key must be exactly 32 bytes, got {found}")]
    KeyLength {
        /// The size that was supplied.
        found: usize,
    },
    /// The key file does not hold one base64 line of 32 bytes.
    #[error("the key file is not valid: {reason}; create one with `keyward secrets generate-key`")]
    KeyFileFormat {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The passphrase is too short to protect anything.
    #[error("the passphrase is too short: at least {min} characters are required")]
    WeakPassphrase {
        /// The minimum length.
        min: usize,
    },
    /// The salt for passphrase derivation is too short.
    #[error("the key-derivation salt must be at least 16 bytes")]
    ShortSalt,
    /// A seal context part is empty or contains a NUL byte.
    #[error("invalid seal context {part}: it must be non-empty and contain no NUL byte")]
    InvalidContext {
        /// Which part.
        part: &'static str,
    },
    /// The text is not a sealed value of a version this build knows.
    #[error("malformed sealed value: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Authentication failed: the key is wrong, the ciphertext was altered, or it was sealed
    /// for another row or purpose.
    #[error(
        "cannot open sealed value: wrong key-encryption key, altered data, or a value sealed for another row or purpose"
    )]
    CannotOpen,
    /// A password policy that cannot produce a password passing itself and Active Directory
    /// complexity. The text names every problem, separated by "; ".
    #[error("invalid password policy: {0}")]
    InvalidPolicy(String),
    /// Every candidate the generator drew missed a class or contained an account name; this
    /// takes a policy with almost nothing left to draw from, or names that cover its alphabet.
    #[error(
        "no generated password met the policy and avoided the account names in {attempts} attempts; exclude fewer characters or lengthen the password"
    )]
    GenerationFailed {
        /// How many candidates were drawn and thrown away.
        attempts: u32,
    },
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
