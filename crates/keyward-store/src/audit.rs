//! The append-only audit log.

use keyward_model::{AuditRecord, NewAuditRecord};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectionTrait,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entity::audit_log;
use crate::{Result, Store};

impl Store {
    /// Appends one record on its own.
    pub async fn append_audit(&self, record: &NewAuditRecord) -> Result<i64> {
        append(&self.db, record).await
    }

    /// Reads up to `limit` records after sequence number `after`, oldest first, optionally only
    /// those about `subject`.
    pub async fn list_audit(
        &self,
        subject: Option<&str>,
        after: i64,
        limit: u64,
    ) -> Result<Vec<AuditRecord>> {
        let mut query = audit_log::Entity::find().filter(audit_log::Column::Seq.gt(after));
        if let Some(subject) = subject {
            query = query.filter(audit_log::Column::Subject.eq(subject));
        }
        let rows = query
            .order_by_asc(audit_log::Column::Seq)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(to_model).collect())
    }

    /// Records that match every part of `filter`, newest first: up to `filter.limit` records
    /// before sequence number `filter.before` (when given).
    pub async fn search_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let mut query = audit_log::Entity::find();
        if let Some(actor) = &filter.actor {
            query = query.filter(audit_log::Column::Actor.eq(actor.as_str()));
        }
        if let Some(subject) = &filter.subject {
            query = query.filter(audit_log::Column::Subject.eq(subject.as_str()));
        }
        if let Some(action) = &filter.action {
            query = query.filter(audit_log::Column::Action.starts_with(action.as_str()));
        }
        if let Some(from) = filter.from {
            query = query.filter(audit_log::Column::At.gte(from));
        }
        if let Some(until) = filter.until {
            query = query.filter(audit_log::Column::At.lt(until));
        }
        if let Some(before) = filter.before {
            query = query.filter(audit_log::Column::Seq.lt(before));
        }
        let rows = query
            .order_by_desc(audit_log::Column::Seq)
            .limit(filter.limit)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(to_model).collect())
    }
}

/// Which audit records [`Store::search_audit`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exactly this actor, e.g. `admin:ada@example.com`.
    pub actor: Option<String>,
    /// Exactly this subject, e.g. `key:SN-1`.
    pub subject: Option<String>,
    /// Actions starting with this, e.g. `key.` or `key.assigned`.
    pub action: Option<String>,
    /// At or after this time.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Before this time.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Only records older than this sequence number (the next page).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: u64,
}

/// Appends `record` on `db`, which may be a transaction so that the record commits with the
/// change it describes.
pub(crate) async fn append(db: &impl ConnectionTrait, record: &NewAuditRecord) -> Result<i64> {
    let row = audit_log::ActiveModel {
        seq: NotSet,
        at: Set(record.at),
        actor: Set(record.actor.clone()),
        action: Set(record.action.clone()),
        subject: Set(record.subject.clone()),
        detail: Set(record.detail.clone()),
    }
    .insert(db)
    .await?;
    Ok(row.seq)
}

/// Appends many records at once (batched inserts), in order, on `db`.
pub(crate) async fn append_many(
    db: &impl ConnectionTrait,
    records: &[NewAuditRecord],
) -> Result<()> {
    for chunk in records.chunks(crate::INSERT_BATCH) {
        let rows = chunk.iter().map(|record| audit_log::ActiveModel {
            seq: NotSet,
            at: Set(record.at),
            actor: Set(record.actor.clone()),
            action: Set(record.action.clone()),
            subject: Set(record.subject.clone()),
            detail: Set(record.detail.clone()),
        });
        audit_log::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

fn to_model(row: audit_log::Model) -> AuditRecord {
    AuditRecord {
        seq: row.seq,
        record: NewAuditRecord {
            actor: row.actor,
            action: row.action,
            subject: row.subject,
            detail: row.detail,
            at: row.at,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_test_support::TestDb;

    /// The audit log refuses UPDATE and DELETE from any client, not only from this crate's API.
    #[tokio::test]
    async fn database_refuses_changes_to_the_audit_log() {
        for db in TestDb::all().await {
            let store = Store::connect(&db.url).await.unwrap();
            store.migrate().await.unwrap();
            let record = NewAuditRecord {
                actor: "test".into(),
                action: "x".into(),
                subject: "s".into(),
                detail: serde_json::json!({}),
                at: chrono::Utc::now(),
            };
            store.append_audit(&record).await.unwrap();
            for sql in [
                "UPDATE audit_log SET actor = 'mallory'",
                "DELETE FROM audit_log",
            ] {
                let err = store.db.execute_unprepared(sql).await.unwrap_err();
                assert!(
                    err.to_string().contains("append-only"),
                    "{}: {sql}: {err}",
                    db.label
                );
            }
            let rows = store.list_audit(None, 0, 10).await.unwrap();
            assert_eq!(rows.len(), 1, "{}", db.label);
            assert_eq!(rows[0].record.actor, "test", "{}", db.label);
        }
    }
}
