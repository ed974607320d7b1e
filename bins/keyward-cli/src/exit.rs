//! Exit codes. Stable: scripts depend on them.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | internal error (see the message) |
//! | 2 | usage error (bad flags or arguments) |
//! | 3 | configuration error (file, environment or flags), and `config check` that found a problem |
//! | 4 | not found |
//! | 5 | conflict: already exists, a key or workstation status that does not allow the operation, an invitation already used or expired, a sync already running, a concurrent change, or a rotation already under way |
//! | 6 | invalid input, including a wrong, expired or exhausted activation code and a password the policy refuses |
//! | 7 | unavailable: the database, or (with `--server`) the server is busy or its database is down |
//! | 8 | directory error (cannot connect, TLS, bind refused, group not found, search failed) |
//! | 9 | the database schema is older than this keyward, or absent: run `keyward migrate` |
//! | 10 | the database schema was migrated by a newer keyward: upgrade this keyward |
//! | 11 | `--server`: the server cannot be reached, or its answer is not a keyward server's |
//! | 12 | `--server`: no token, or the server refused it (unknown, revoked, expired, or without the scope) |

use keyward_service::{Error, ErrorCode};

/// Internal error.
pub const INTERNAL: u8 = 1;
/// Configuration error.
pub const CONFIG: u8 = 3;
/// Not found.
pub const NOT_FOUND: u8 = 4;
/// Conflict.
pub const CONFLICT: u8 = 5;
/// Invalid input.
pub const INVALID_INPUT: u8 = 6;
/// Database unavailable.
pub const UNAVAILABLE: u8 = 7;
/// Directory error.
pub const DIRECTORY: u8 = 8;
/// The schema is older than this keyward (or absent).
pub const SCHEMA_BEHIND: u8 = 9;
/// The schema was migrated by a newer keyward.
pub const SCHEMA_AHEAD: u8 = 10;
/// The server cannot be reached or does not answer as keyward.
pub const SERVER: u8 = 11;
/// No token, or the server refused it.
pub const AUTH: u8 = 12;
/// Bad flags or arguments (clap's own exit code).
pub const USAGE: u8 = 2;

/// A failed command: its stable code, its exit code and a one-line message.
#[derive(Debug)]
pub struct Failure {
    pub code: &'static str,
    pub exit_code: u8,
    pub message: String,
}

impl Failure {
    /// The failure of a stable error code: the same exit code in direct mode (from the
    /// service's error) and with `--server` (from the answer's code).
    pub fn of_code(code: ErrorCode, message: String) -> Self {
        let exit_code = match code {
            ErrorCode::InvalidInput
            | ErrorCode::PasswordPolicy
            | ErrorCode::WrongActivationCode
            | ErrorCode::ActivationCodeExpired
            | ErrorCode::ActivationAttemptsExhausted => INVALID_INPUT,
            ErrorCode::NotFound => NOT_FOUND,
            ErrorCode::Conflict
            | ErrorCode::InvalidTransition
            | ErrorCode::LeaseBusy
            | ErrorCode::WorkstationState
            | ErrorCode::InvitationState
            | ErrorCode::ConcurrentChange
            | ErrorCode::RotationInFlight
            | ErrorCode::KeyNotHeld
            | ErrorCode::KeyProofRequired
            | ErrorCode::WorkstationNotApproved => CONFLICT,
            ErrorCode::InvalidConfig => CONFIG,
            ErrorCode::Unavailable | ErrorCode::RateLimited => UNAVAILABLE,
            ErrorCode::Directory => DIRECTORY,
            ErrorCode::SchemaBehind => SCHEMA_BEHIND,
            ErrorCode::SchemaAhead => SCHEMA_AHEAD,
            // Only the server checks credentials.
            ErrorCode::Unauthorized
            | ErrorCode::TokenExpired
            | ErrorCode::InsufficientScope
            | ErrorCode::RegistrationRefused => AUTH,
            ErrorCode::Internal | ErrorCode::NotSupported => INTERNAL,
        };
        Self {
            code: code.as_str(),
            exit_code,
            message,
        }
    }

    /// A command that works on the local database or files only, given `--server`.
    pub fn local_only(command: &str) -> Self {
        Self {
            code: "invalid_input",
            exit_code: USAGE,
            message: format!(
                "`keyward {command}` works on the database and files of this host directly; run \
                 it without --server, with the server's configuration"
            ),
        }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Self::of_code(err.code(), err.to_string())
    }
}
