//! Who performs an operation, for the audit log.

use std::fmt;

use keyward_model::{Email, TokenName};

/// The party on whose behalf an operation runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An administrator at the command line (the CLI works on the database directly).
    Cli,
    /// A request authenticated with the named admin API token.
    Token(TokenName),
    /// The server itself (scheduler, start-up).
    System,
    /// A workstation agent (by workstation id).
    Workstation(uuid::Uuid),
    /// A console administrator, signed in with a passkey.
    Admin(Email),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cli => f.write_str("cli"),
            Self::Token(name) => write!(f, "token:{name}"),
            Self::System => f.write_str("system"),
            Self::Workstation(id) => write!(f, "workstation:{id}"),
            Self::Admin(email) => write!(f, "admin:{email}"),
        }
    }
}
