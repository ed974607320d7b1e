//! Workstations that run the agent: registered, approved or revoked by an administrator. Their
//! credential is stored only as a hash computed by the caller. A row becomes a
//! [`Workstation`] through `TryFrom`; an unknown status is [`Error::Corrupt`], never a default.

use chrono::{DateTime, Utc};
use keyward_model::{
    Cursor, FINGERPRINT_LEN, NewAuditRecord, Page, PageRequest, Workstation, WorkstationStatus,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::entity::workstation;
use crate::{Error, Result, Store, audit};

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
        let txn = self.begin_write().await?;
        let row = workstation::ActiveModel {
            id: Set(new.id),
            name: Set(new.name.to_owned()),
            status: Set(WorkstationStatus::Pending.as_str().to_owned()),
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
        Workstation::try_from(row)
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
        let items = rows
            .into_iter()
            .map(Workstation::try_from)
            .collect::<Result<Vec<_>>>()?;
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
        row.map(Workstation::try_from).transpose()
    }

    /// The stored hash of a workstation's credential, for the caller to compare in constant
    /// time.
    pub async fn workstation_credential_hash(&self, id: Uuid) -> Result<Option<String>> {
        let row = workstation::Entity::find_by_id(id).one(&self.db).await?;
        Ok(row.map(|r| r.credential_hash))
    }

    /// Moves a workstation from one of `from` to `to` with its audit record, and stamps when
    /// it was approved or revoked. Returns `None` when it was not in one of `from` (nothing
    /// changed).
    pub async fn set_workstation_status(
        &self,
        id: Uuid,
        from: &[WorkstationStatus],
        to: WorkstationStatus,
        now: DateTime<Utc>,
        record: &NewAuditRecord,
    ) -> Result<Option<Workstation>> {
        let txn = self.begin_write().await?;
        let mut update = workstation::Entity::update_many()
            .col_expr(workstation::Column::Status, Expr::value(to.as_str()));
        update = match to {
            WorkstationStatus::Pending => update,
            WorkstationStatus::Approved => {
                update.col_expr(workstation::Column::ApprovedAt, Expr::value(now))
            }
            WorkstationStatus::Revoked => {
                update.col_expr(workstation::Column::RevokedAt, Expr::value(now))
            }
        };
        let affected = update
            .filter(workstation::Column::Id.eq(id))
            .filter(workstation::Column::Status.is_in(from.iter().map(|s| s.as_str())))
            .exec(&txn)
            .await?
            .rows_affected;
        if affected != 1 {
            return Ok(None);
        }
        audit::append(&txn, record).await?;
        let row = workstation::Entity::find_by_id(id).one(&txn).await?;
        txn.commit().await?;
        row.map(Workstation::try_from).transpose()
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

impl TryFrom<workstation::Model> for Workstation {
    type Error = Error;

    /// Reads a row; an unknown status or a credential hash too short for its fingerprint is
    /// [`Error::Corrupt`] naming the row, never a default.
    fn try_from(row: workstation::Model) -> Result<Self> {
        let corrupt = |detail: String| Error::corrupt("workstations", &row.id, &detail);
        let status = row
            .status
            .parse::<WorkstationStatus>()
            .map_err(|e| corrupt(e.to_string()))?;
        let credential_fingerprint = row
            .credential_hash
            .get(..FINGERPRINT_LEN)
            .ok_or_else(|| corrupt("the credential hash is shorter than its fingerprint".into()))?
            .to_owned();
        Ok(Workstation {
            credential_fingerprint,
            source_address: row.source_address,
            id: row.id,
            name: row.name,
            status,
            created_at: row.created_at,
            approved_at: row.approved_at,
            revoked_at: row.revoked_at,
            last_seen_at: row.last_seen_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> workstation::Model {
        workstation::Model {
            id: Uuid::nil(),
            name: "WS-1".into(),
            status: "approved".into(),
            credential_hash: "0123456789abcdef".into(),
            created_at: Utc::now(),
            approved_at: None,
            revoked_at: None,
            last_seen_at: None,
            source_address: Some("192.0.2.7".into()),
        }
    }

    #[test]
    fn a_row_reads_with_its_status_and_fingerprint() {
        let ws = Workstation::try_from(row()).unwrap();
        assert_eq!(ws.status, WorkstationStatus::Approved);
        assert_eq!(ws.credential_fingerprint, "01234567");
    }

    #[test]
    fn an_unknown_status_or_a_short_hash_is_corrupt_naming_the_row() {
        for (broken, says) in [
            (
                workstation::Model {
                    status: "Approved".into(),
                    ..row()
                },
                "invalid workstation status \"Approved\"",
            ),
            (
                workstation::Model {
                    credential_hash: "0123".into(),
                    ..row()
                },
                "shorter than its fingerprint",
            ),
        ] {
            let err = Workstation::try_from(broken).unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, Error::Corrupt { .. }), "{message}");
            assert!(
                message.contains("workstations row 00000000-0000-0000-0000-000000000000"),
                "{message}"
            );
            assert!(message.contains(says), "{message}");
        }
    }
}
