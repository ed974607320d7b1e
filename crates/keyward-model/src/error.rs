//! The one error type of this crate: input that is not valid vocabulary.

/// Why a value could not become a keyward vocabulary type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text is not a usable e-mail address.
    #[error("invalid e-mail address {value:?}: {reason}")]
    InvalidEmail {
        /// The rejected input (its first 64 characters, then `…`).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A name (display name, directory name, token name) breaks its rules.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidName {
        /// Which kind of name.
        what: &'static str,
        /// The rejected input.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A stored or transmitted code (status, cursor, id) is not one keyward knows.
    #[error("invalid {what} {value:?}")]
    InvalidEncoding {
        /// Which kind of value.
        what: &'static str,
        /// The rejected input.
        value: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
