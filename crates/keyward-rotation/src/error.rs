//! The one error type of this crate: stored text that is not a rotation value.

/// Why a value could not become a rotation type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A stored code (rotation state, method) is not one keyward knows.
    #[error("invalid {what} {value:?}")]
    InvalidEncoding {
        /// Which kind of value.
        what: &'static str,
        /// The rejected text.
        value: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
