//! The running `keyward-server` instances, each holding a lease it renews while it runs.
//!
//! A server registers at start and deletes its row when it stops; a killed server's row expires.
//! What must not run beside a live server (re-sealing every secret under a new key-encryption
//! key) lists the live instances first.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::entity::server_instance;
use crate::{Result, Store};

/// One running (or recently killed) server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInstance {
    /// Chosen by the server at start.
    pub id: Uuid,
    /// Its host name.
    pub host: String,
    /// Its process id on that host.
    pub pid: i64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When its lease ends unless it renews it.
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Records a server that started, and forgets the leases that expired before `instance`
    /// started.
    pub async fn register_server_instance(&self, instance: &ServerInstance) -> Result<()> {
        server_instance::Entity::delete_many()
            .filter(server_instance::Column::ExpiresAt.lt(instance.started_at))
            .exec(&self.db)
            .await?;
        server_instance::Entity::insert(server_instance::ActiveModel {
            id: Set(instance.id),
            host: Set(instance.host.clone()),
            pid: Set(instance.pid),
            started_at: Set(instance.started_at),
            expires_at: Set(instance.expires_at),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(|e| crate::Error::from_write(e, "server instance", instance.id.to_string()))?;
        Ok(())
    }

    /// Extends a server's lease; false when its row is gone (it expired and was forgotten), so
    /// that the server registers again.
    pub async fn renew_server_instance(&self, id: Uuid, expires_at: DateTime<Utc>) -> Result<bool> {
        let result = server_instance::Entity::update_many()
            .col_expr(
                server_instance::Column::ExpiresAt,
                sea_orm::sea_query::Expr::value(expires_at),
            )
            .filter(server_instance::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Forgets a server that stopped.
    pub async fn remove_server_instance(&self, id: Uuid) -> Result<()> {
        server_instance::Entity::delete_by_id(id)
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The servers whose lease has not ended at `now`, oldest first.
    pub async fn live_server_instances(&self, now: DateTime<Utc>) -> Result<Vec<ServerInstance>> {
        Ok(server_instance::Entity::find()
            .filter(server_instance::Column::ExpiresAt.gte(now))
            .order_by_asc(server_instance::Column::StartedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| ServerInstance {
                id: row.id,
                host: row.host,
                pid: row.pid,
                started_at: row.started_at,
                expires_at: row.expires_at,
            })
            .collect())
    }
}
