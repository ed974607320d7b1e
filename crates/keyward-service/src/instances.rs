//! The lease a running `keyward-server` holds on its database, so that what must not run
//! beside a live server (a key-encryption key rotation) can tell that one is running.
//!
//! The server registers at start, before it loads the key-encryption key, renews every
//! [`SERVER_LEASE_RENEW_SECS`] and releases the lease when it stops; a killed server's lease
//! ends [`SERVER_LEASE_SECS`] after its last renewal.

use keyward_store::ServerInstance;
use uuid::Uuid;

use crate::{Keyward, Result};

/// How long a lease lasts without renewal.
pub const SERVER_LEASE_SECS: i64 = 60;
/// How often a server renews its lease.
pub const SERVER_LEASE_RENEW_SECS: u64 = 20;

/// A running server's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLease {
    id: Uuid,
}

impl Keyward {
    /// Registers this process as a running server.
    pub async fn register_server(&self) -> Result<ServerLease> {
        let lease = ServerLease { id: Uuid::now_v7() };
        self.insert_server_row(lease).await?;
        Ok(lease)
    }

    /// Extends the lease; registers again if the row was forgotten (the process was paused
    /// longer than the lease, say).
    pub async fn renew_server(&self, lease: ServerLease) -> Result<()> {
        let until = self.now() + chrono::Duration::seconds(SERVER_LEASE_SECS);
        if !self.store().renew_server_instance(lease.id, until).await? {
            self.insert_server_row(lease).await?;
        }
        Ok(())
    }

    /// Gives the lease back (at shutdown).
    pub async fn release_server(&self, lease: ServerLease) -> Result<()> {
        Ok(self.store().remove_server_instance(lease.id).await?)
    }

    async fn insert_server_row(&self, lease: ServerLease) -> Result<()> {
        let now = self.now();
        let instance = ServerInstance {
            id: lease.id,
            host: this_host(),
            pid: i64::from(std::process::id()),
            started_at: now,
            expires_at: now + chrono::Duration::seconds(SERVER_LEASE_SECS),
        };
        Ok(self.store().register_server_instance(&instance).await?)
    }
}

/// This machine's host name, as leases record it.
pub(crate) fn this_host() -> String {
    hostname::get().map_or_else(
        |_| "unknown host".to_owned(),
        |h| h.to_string_lossy().into_owned(),
    )
}

/// Whether `instance` is a process of this host that no longer runs (a killed server, or a
/// lease that came in with a restored backup): its lease is then ignored. Only known on Linux;
/// elsewhere, and for other hosts, the lease counts until it ends.
pub(crate) fn gone_from_this_host(instance: &ServerInstance) -> bool {
    cfg!(target_os = "linux")
        && instance.host == this_host()
        && !std::path::Path::new(&format!("/proc/{}", instance.pid)).exists()
}
