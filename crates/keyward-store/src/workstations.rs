//! Workstations that run the agent: registered, approved or revoked by an administrator. Their
//! credential is stored only as a hash computed by the caller.

use chrono::{DateTime, Utc};
use keyward_model::{Cursor, NewAuditRecord, Page, PageRequest};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
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
    /// The client address it registered from; `None` for workstations registered before
    /// addresses were recorded.
    pub source_address: Option<String>,
    /// The first [`FINGERPRINT_LEN`] hex digits of the stored SHA-256 of its credential: what
    /// the agent prints at registration, so that two workstations of the same name can be told
    /// apart. Revealing 32 bits of the hash of a 256-bit random credential weakens nothing.
    pub credential_fingerprint: String,
}

/// Hex digits of a credential fingerprint.
pub const FINGERPRINT_LEN: usize = 8;

/// A workstation to register.
#[derive(Debug, Clone)]
pub struct NewWorkstation<'a> {
    /// Its id, also part of the credential.
    pub id: Uuid,
    /// The name it gave.
    pub name: &'a str,
    /// SHA-256 hex of its credential.
    pub credential_hash: &'a str,
    /// The client address it registered from.
    pub source_address: Option<&'a str>,
    /// Now.
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Registers a workstation in status `pending`.
    pub async fn create_workstation(
        &self,
        new: &NewWorkstation<'_>,
        record: &NewAuditRecord,
    ) -> Result<Workstation> {
        let txn = self.db.begin().await?;
        let row = workstation::ActiveModel {
            id: Set(new.id),
            name: Set(new.name.to_owned()),
            status: Set("pending".into()),
            credential_hash: Set(new.credential_hash.to_owned()),
            created_at: Set(new.created_at),
            approved_at: Set(None),
            revoked_at: Set(None),
            last_seen_at: Set(None),
            source_address: Set(new.source_address.map(str::to_owned)),
        }
        .insert(&txn)
        .await
        .map_err(|e| Error::from_write(e, "workstation", new.id.to_string()))?;
        audit::append(&txn, record).await?;
        txn.commit().await?;
        Ok(to_model(row))
    }

    /// One page of workstations in id order, which is registration order (v7 ids).
    pub async fn list_workstations(&self, page: &PageRequest) -> Result<Page<Workstation>> {
        let mut query = workstation::Entity::find().order_by_asc(workstation::Column::Id);
        if let Some(cursor) = &page.after {
            let after = Uuid::parse_str(cursor.as_str()).map_err(|_| Error::InvalidCursor {
                cursor: cursor.as_str().to_owned(),
            })?;
            query = query.filter(workstation::Column::Id.gt(after));
        }
        let mut rows = query.limit(u64::from(page.limit) + 1).all(&self.db).await?;
        let has_more = rows.len() > page.limit as usize;
        rows.truncate(page.limit as usize);
        let items: Vec<Workstation> = rows.into_iter().map(to_model).collect();
        let next_cursor = if has_more {
            items.last().map(|w| Cursor::new(w.id.to_string()))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
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
    let credential_fingerprint = row
        .credential_hash
        .get(..FINGERPRINT_LEN)
        .unwrap_or_default()
        .to_owned();
    Workstation {
        credential_fingerprint,
        source_address: row.source_address,
        id: row.id,
        name: row.name,
        status: row.status,
        created_at: row.created_at,
        approved_at: row.approved_at,
        revoked_at: row.revoked_at,
        last_seen_at: row.last_seen_at,
    }
}
