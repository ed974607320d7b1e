//! Exit codes and the one failure type commands return. The codes are stable: tests and demo
//! scripts depend on them.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | server or network error (the server's `code` and `message` are in the error line) |
//! | 2 | usage error (bad flags or arguments, an unreadable `--password-file`, `--ca-file`, `--client-cert` or `--client-key`) |
//! | 3 | the workstation is not approved (`403 workstation_not_approved`) |
//! | 4 | state file problem (unreadable, invalid, not registered, unknown key or account) |

use crate::client::ClientError;
use crate::state::StateError;

/// Server or network error.
pub const SERVER: u8 = 1;
/// Usage error; clap uses the same code for its own errors.
pub const USAGE: u8 = 2;
/// The workstation is pending or revoked.
pub const NOT_APPROVED: u8 = 3;
/// State file problem.
pub const STATE: u8 = 4;

/// A failed command: its exit code and a message for the error line.
#[derive(Debug)]
pub struct Failure {
    /// The process exit code.
    pub exit_code: u8,
    /// What went wrong, without the `keyward-agent-sim:` prefix.
    pub message: String,
}

impl Failure {
    /// A failure with `exit_code`.
    pub fn new(exit_code: u8, message: impl Into<String>) -> Self {
        Self {
            exit_code,
            message: message.into(),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(err: ClientError) -> Self {
        let exit_code = if err.is_not_approved() {
            NOT_APPROVED
        } else if err.is_usage() {
            USAGE
        } else {
            SERVER
        };
        Self::new(exit_code, err.to_string())
    }
}

impl From<StateError> for Failure {
    fn from(err: StateError) -> Self {
        Self::new(STATE, err.to_string())
    }
}
