//! Where a command runs: on the database directly, or through a running server's API.

use keyward_service::Keyward;

use crate::remote::Remote;

/// The two ways the CLI acts. Each command module matches on it, so the direct call and the
/// API call of one operation sit side by side and return the same `keyward-api` type.
pub enum Backend {
    /// On the database and configuration of this host (bootstrap, and a server's own host).
    Direct(Box<Keyward>),
    /// Through the admin API of the server `--server` names, with an admin token.
    Remote(Remote),
}
