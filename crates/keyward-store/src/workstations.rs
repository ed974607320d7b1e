//! Workstations that run the agent: registered, approved or revoked by an administrator. Their
//! credential is stored only as a hash computed by the caller.

use chrono::{DateTime, Utc};
use keyward_model::NewAuditRecord;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use uuid::Uuid;

use crate::entity::workstation;
use crate::{Error, Result, Store, audit};

/// A workstation as stored (never its credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workstation {
    /// Id.
    pub id: Uuid,
    /// The name it registered with.
    pub name: String,
    /// `pending`, `approved` or `revoked`.
    pub status: String,
    /// When it registered.
    pub created_at: DateTime<Utc>,
    /// When an administrator approved it.
    pub approved_at: Option<DateTime<Utc>>,
    /// When an administrator revoked it.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it last called the agent API.
    pub last_seen_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Registers a workstation in status `pending`.
    pub async fn create_workstation(
        &self,
        id: Uuid,
        name: &str,
        credential_hash: &str,
        now: DateTime<Utc>,
        record: &NewAuditRecord,
    ) -> Result<Workstation> {
        let txn = self.db.begin().await?;
        let row = workstation::ActiveModel {
            id: Set(id),
            name: Set(name.to_owned()),
            status: Set("pending".into()),
            credential_hash: Set(credential_hash.to_owned()),
            created_at: Set(now),
            approved_at: Set(None),
            revoked_at: Set(None),
            last_seen_at: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(|e| Error::from_write(e, "workstation", id.to_string()))?;
        audit::append(&txn, record).await?;
        txn.commit().await?;
        Ok(to_model(row))
    }

    /// Every workstation, newest first.
    pub async fn list_workstations(&self) -> Result<Vec<Workstation>> {
        let rows = workstation::Entity::find()
            .order_by_desc(workstation::Column::CreatedAt)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(to_model).collect())
    }

    /// One workstation.
    pub async fn workstation(&self, id: Uuid) -> Result<Option<Workstation>> {
        let row = workstation::Entity::find_by_id(id).one(&self.db).await?;
        Ok(row.map(to_model))
    }

    /// The stored hash of a workstation's credential, for the caller to compare in constant
    /// time.
    pub async fn workstation_credential_hash(&self, id: Uuid) -> Result<Option<String>> {
        let row = workstation::Entity::find_by_id(id).one(&self.db).await?;
        Ok(row.map(|r| r.credential_hash))
    }

    /// Moves a workstation from one of `from` to `to` with its audit record. Returns `None`
    /// when it was not in one of `from` (nothing changed).
    pub async fn set_workstation_status(
        &self,
        id: Uuid,
        from: &[&str],
        to: &str,
        now: DateTime<Utc>,
        record: &NewAuditRecord,
    ) -> Result<Option<Workstation>> {
        let txn = self.db.begin().await?;
        let mut update = workstation::Entity::update_many()
            .col_expr(workstation::Column::Status, Expr::value(to));
        update = match to {
            "approved" => update.col_expr(workstation::Column::ApprovedAt, Expr::value(now)),
            _ => update.col_expr(workstation::Column::RevokedAt, Expr::value(now)),
        };
        let affected = update
            .filter(workstation::Column::Id.eq(id))
            .filter(workstation::Column::Status.is_in(from.iter().copied()))
            .exec(&txn)
            .await?
            .rows_affected;
        if affected != 1 {
            return Ok(None);
        }
        audit::append(&txn, record).await?;
        let row = workstation::Entity::find_by_id(id).one(&txn).await?;
        txn.commit().await?;
        Ok(row.map(to_model))
    }

    /// Records that a workstation called the agent API.
    pub async fn touch_workstation(&self, id: Uuid, now: DateTime<Utc>) -> Result<()> {
        workstation::Entity::update_many()
            .col_expr(workstation::Column::LastSeenAt, Expr::value(now))
            .filter(workstation::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

fn to_model(row: workstation::Model) -> Workstation {
    Workstation {
        id: row.id,
        name: row.name,
        status: row.status,
        created_at: row.created_at,
        approved_at: row.approved_at,
        revoked_at: row.revoked_at,
        last_seen_at: row.last_seen_at,
    }
}
