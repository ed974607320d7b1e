//! Counts for the console's dashboard and the metrics: one `GROUP BY` per table, read from the
//! database so that every server instance reports the same.

use std::collections::BTreeMap;

use sea_orm::{
    ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect, sea_query::Expr,
};

use crate::entity::{
    account_password, employee, key, outbox, server_instance, sync_lease, sync_run, workstation,
};
use crate::{Result, Store};

/// How many of each, by the stored status encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    /// Every employee.
    pub employees: u64,
    /// Employees whose origin is a directory.
    pub employees_from_directory: u64,
    /// Keys by status (`ready`, `active`, …).
    pub keys: BTreeMap<String, u64>,
    /// Workstations by status (`pending`, `approved`, `revoked`).
    pub workstations: BTreeMap<String, u64>,
    /// Outbox messages by status (`queued`, `sending`, `sent`, `failed`, `cancelled`).
    pub outbox: BTreeMap<String, u64>,
    /// Accounts keyward keeps a password for, by rotation state (`idle`, `awaiting_key`, …).
    pub rotations: BTreeMap<String, u64>,
    /// Stored sync runs by directory and status.
    pub sync_runs: BTreeMap<(String, String), u64>,
}

/// Leases and claims whose expiry has not passed: work some process holds right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveClaims {
    /// Sync leases (one per directory being synced).
    pub sync_leases: u64,
    /// Rotations whose directory step a worker has claimed.
    pub directory_steps: u64,
    /// Outbox messages a mailer has claimed (`sending`).
    pub messages: u64,
    /// Server instances' leases.
    pub servers: u64,
}

#[derive(FromQueryResult)]
struct ByPair {
    directory: String,
    status: String,
    n: i64,
}

#[derive(FromQueryResult)]
struct ByStatus {
    status: String,
    n: i64,
}

impl Store {
    /// The leases and claims held at `now`.
    pub async fn live_claims(&self, now: chrono::DateTime<chrono::Utc>) -> Result<LiveClaims> {
        use sea_orm::PaginatorTrait as _;
        Ok(LiveClaims {
            sync_leases: sync_lease::Entity::find()
                .filter(sync_lease::Column::ExpiresAt.gt(now))
                .count(&self.db)
                .await?,
            directory_steps: account_password::Entity::find()
                .filter(account_password::Column::ClaimedUntil.gt(now))
                .count(&self.db)
                .await?,
            messages: outbox::Entity::find()
                .filter(outbox::Column::Status.eq("sending"))
                .filter(outbox::Column::ClaimedUntil.gt(now))
                .count(&self.db)
                .await?,
            servers: server_instance::Entity::find()
                .filter(server_instance::Column::ExpiresAt.gt(now))
                .count(&self.db)
                .await?,
        })
    }

    /// The counts the dashboard shows.
    pub async fn overview(&self) -> Result<Overview> {
        let employees = count_by::<employee::Entity>(&self.db, employee::Column::Origin).await?;
        let from_directory = employees
            .iter()
            .filter(|(origin, _)| origin.as_str() != "manual")
            .map(|(_, n)| n)
            .sum();
        Ok(Overview {
            employees: employees.values().sum(),
            employees_from_directory: from_directory,
            keys: count_by::<key::Entity>(&self.db, key::Column::Status).await?,
            workstations: count_by::<workstation::Entity>(&self.db, workstation::Column::Status)
                .await?,
            outbox: count_by::<outbox::Entity>(&self.db, outbox::Column::Status).await?,
            rotations: count_by::<account_password::Entity>(
                &self.db,
                account_password::Column::State,
            )
            .await?,
            sync_runs: sync_run::Entity::find()
                .select_only()
                .column(sync_run::Column::Directory)
                .column(sync_run::Column::Status)
                .column_as(Expr::cust("COUNT(*)"), "n")
                .group_by(sync_run::Column::Directory)
                .group_by(sync_run::Column::Status)
                .into_model::<ByPair>()
                .all(&self.db)
                .await?
                .into_iter()
                .map(|r| ((r.directory, r.status), u64::try_from(r.n).unwrap_or(0)))
                .collect(),
        })
    }

    /// Rotations in flight that are stalled: waiting for their key since before `key_wait_cutoff`,
    /// or waiting for the directory after `max_attempts` failures or more (still retried) — the
    /// rule of `passwords status`' `overdue`.
    pub async fn stalled_rotations(
        &self,
        key_wait_cutoff: chrono::DateTime<chrono::Utc>,
        max_attempts: u32,
    ) -> Result<u64> {
        use sea_orm::{Condition, PaginatorTrait};
        let attempts = i32::try_from(max_attempts).unwrap_or(i32::MAX);
        Ok(account_password::Entity::find()
            .filter(account_password::Column::PendingVersion.is_not_null())
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(account_password::Column::State.eq("awaiting_key"))
                            .add(account_password::Column::RequestedAt.lt(key_wait_cutoff)),
                    )
                    .add(
                        Condition::all()
                            .add(account_password::Column::State.eq("awaiting_directory"))
                            .add(account_password::Column::Attempts.gte(attempts)),
                    ),
            )
            .count(&self.db)
            .await?)
    }
}

async fn count_by<E: EntityTrait>(
    db: &sea_orm::DatabaseConnection,
    column: E::Column,
) -> Result<BTreeMap<String, u64>> {
    let rows = E::find()
        .select_only()
        .column_as(column, "status")
        .column_as(Expr::cust("COUNT(*)"), "n")
        .group_by(column)
        .filter(column.is_not_null())
        .into_model::<ByStatus>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.status, u64::try_from(r.n).unwrap_or(0)))
        .collect())
}
