//! This server's lease on its database: held from before the key-encryption key is loaded until
//! the server stops, so that `keyward secrets rotate-key` refuses to run beside it.

use std::time::Duration;

use keyward_service::{Keyward, SERVER_LEASE_RENEW_SECS, ServerLease};

/// The lease and the task that renews it.
pub(crate) struct HeldLease {
    keyward: Keyward,
    lease: ServerLease,
    renewer: tokio::task::JoinHandle<()>,
}

impl HeldLease {
    /// Registers this server and starts renewing its lease.
    pub(crate) async fn take(keyward: &Keyward) -> anyhow::Result<Self> {
        let lease = keyward
            .register_server()
            .await
            .map_err(|e| anyhow::anyhow!("cannot register this server in the database: {e}"))?;
        let renewing = keyward.clone();
        let renewer = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(SERVER_LEASE_RENEW_SECS));
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = renewing.renew_server(lease).await {
                    tracing::warn!(error = %e, "cannot renew this server's lease in the database");
                }
            }
        });
        Ok(Self {
            keyward: keyward.clone(),
            lease,
            renewer,
        })
    }

    /// Stops renewing and gives the lease back.
    pub(crate) async fn release(self) {
        self.renewer.abort();
        if let Err(e) = self.keyward.release_server(self.lease).await {
            tracing::warn!(error = %e, "cannot release this server's lease (it ends on its own)");
        }
    }
}
