//! Every sealed value the database holds, listed page by page and re-sealed in place, for
//! moving them to a new key-encryption key (`keyward secrets rotate-key`).
//!
//! The store never opens anything: it hands out the stored text with what its sealing context
//! is made of, and writes a replacement only if the stored text is still the one that was read
//! (compare-and-set), so a value changed in between is never overwritten with an older one.

use keyward_model::NewAuditRecord;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::entity::{account_password, outbox, setting};
use crate::{Result, Store, audit};

/// Where a sealed value is stored, with the parts of its sealing context.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SealedSlot {
    /// An account's committed password (`account_passwords.sealed_current`), sealed for
    /// `version`.
    CommittedPassword {
        /// The directory's name.
        directory: String,
        /// The account's objectGUID.
        object_guid: Uuid,
        /// The version it is sealed for.
        version: i64,
    },
    /// The candidate of a rotation in flight (`account_passwords.sealed_pending`).
    PendingPassword {
        /// The directory's name.
        directory: String,
        /// The account's objectGUID.
        object_guid: Uuid,
        /// The pending version it is sealed for.
        version: i64,
    },
    /// The activation code a queued key notification carries.
    ActivationCode {
        /// The outbox row.
        message_id: Uuid,
        /// The key the notification is about.
        serial: String,
    },
    /// A value of the installation's settings.
    Setting {
        /// Its key.
        key: String,
    },
}

/// A sealed value as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    /// Where it is.
    pub slot: SealedSlot,
    /// The stored text.
    pub sealed: String,
}

/// One replacement: `to` is written only where `from` is still stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reseal {
    /// Where.
    pub slot: SealedSlot,
    /// The text that was read.
    pub from: String,
    /// The text to store instead.
    pub to: String,
}

/// A page of sealed passwords, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedPasswordPage {
    /// The values of the page's rows (up to two per account).
    pub values: Vec<SealedValue>,
    /// The last row of the page, to pass as `after` for the next one; `None` at the end.
    pub next: Option<(String, Uuid)>,
}

impl Store {
    /// The sealed passwords of up to `limit` accounts after `after` (directory, objectGUID).
    pub async fn sealed_passwords(
        &self,
        after: Option<&(String, Uuid)>,
        limit: u64,
    ) -> Result<SealedPasswordPage> {
        let mut query = account_password::Entity::find()
            .order_by_asc(account_password::Column::Directory)
            .order_by_asc(account_password::Column::ObjectGuid)
            .limit(limit);
        if let Some((directory, guid)) = after {
            query = query.filter(
                account_password::Column::Directory
                    .gt(directory.as_str())
                    .or(account_password::Column::Directory
                        .eq(directory.as_str())
                        .and(account_password::Column::ObjectGuid.gt(*guid))),
            );
        }
        let rows = query.all(&self.db).await?;
        let next = match rows.last() {
            Some(last) if rows.len() as u64 == limit => {
                Some((last.directory.clone(), last.object_guid))
            }
            _ => None,
        };
        let mut values = Vec::new();
        for row in rows {
            if let Some(sealed) = row.sealed_current {
                values.push(SealedValue {
                    slot: SealedSlot::CommittedPassword {
                        directory: row.directory.clone(),
                        object_guid: row.object_guid,
                        version: row.version,
                    },
                    sealed,
                });
            }
            if let (Some(sealed), Some(version)) = (row.sealed_pending, row.pending_version) {
                values.push(SealedValue {
                    slot: SealedSlot::PendingPassword {
                        directory: row.directory,
                        object_guid: row.object_guid,
                        version,
                    },
                    sealed,
                });
            }
        }
        Ok(SealedPasswordPage { values, next })
    }

    /// How many sealed values the database holds: passwords, activation codes, and those of
    /// the settings `sealed_settings` that exist.
    pub async fn count_sealed_values(&self, sealed_settings: &[&str]) -> Result<u64> {
        use sea_orm::PaginatorTrait as _;
        let current = account_password::Entity::find()
            .filter(account_password::Column::SealedCurrent.is_not_null())
            .count(&self.db)
            .await?;
        let pending = account_password::Entity::find()
            .filter(account_password::Column::SealedPending.is_not_null())
            .count(&self.db)
            .await?;
        let codes = outbox::Entity::find()
            .filter(outbox::Column::SealedActivationCode.is_not_null())
            .count(&self.db)
            .await?;
        let settings = setting::Entity::find()
            .filter(setting::Column::Key.is_in(sealed_settings.iter().copied()))
            .count(&self.db)
            .await?;
        Ok(current + pending + codes + settings)
    }

    /// The sealed activation codes of up to `limit` outbox rows after `after`; the page is
    /// full (there may be more) when it holds `limit` values.
    pub async fn sealed_activation_codes(
        &self,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<(Uuid, SealedValue)>> {
        let mut query = outbox::Entity::find()
            .filter(outbox::Column::SealedActivationCode.is_not_null())
            .order_by_asc(outbox::Column::Id)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(outbox::Column::Id.gt(after));
        }
        Ok(query
            .all(&self.db)
            .await?
            .into_iter()
            .filter_map(|row| {
                let sealed = row.sealed_activation_code?;
                Some((
                    row.id,
                    SealedValue {
                        slot: SealedSlot::ActivationCode {
                            message_id: row.id,
                            serial: row.subject_ref,
                        },
                        sealed,
                    },
                ))
            })
            .collect())
    }

    /// Writes `reseals` in one transaction, each only where its `from` is still stored, with
    /// `audit`; then deletes the settings `delete_settings`. Returns how many values were
    /// replaced (a value changed in between is left as it is and not counted).
    pub async fn reseal(
        &self,
        reseals: &[Reseal],
        delete_settings: &[&str],
        audit: &[NewAuditRecord],
    ) -> Result<usize> {
        let txn = self.begin_write().await?;
        let mut replaced = 0;
        for reseal in reseals {
            if reseal_one(&txn, reseal).await? {
                replaced += 1;
            }
        }
        if !delete_settings.is_empty() {
            setting::Entity::delete_many()
                .filter(setting::Column::Key.is_in(delete_settings.iter().copied()))
                .exec(&txn)
                .await?;
        }
        audit::append_many(&txn, audit).await?;
        txn.commit().await?;
        Ok(replaced)
    }
}

async fn reseal_one(db: &impl ConnectionTrait, reseal: &Reseal) -> Result<bool> {
    let rows = match &reseal.slot {
        SealedSlot::CommittedPassword {
            directory,
            object_guid,
            ..
        } => {
            account_password::Entity::update_many()
                .col_expr(
                    account_password::Column::SealedCurrent,
                    Expr::value(reseal.to.clone()),
                )
                .filter(account_password::Column::Directory.eq(directory.as_str()))
                .filter(account_password::Column::ObjectGuid.eq(*object_guid))
                .filter(account_password::Column::SealedCurrent.eq(reseal.from.as_str()))
                .exec(db)
                .await?
                .rows_affected
        }
        SealedSlot::PendingPassword {
            directory,
            object_guid,
            ..
        } => {
            account_password::Entity::update_many()
                .col_expr(
                    account_password::Column::SealedPending,
                    Expr::value(reseal.to.clone()),
                )
                .filter(account_password::Column::Directory.eq(directory.as_str()))
                .filter(account_password::Column::ObjectGuid.eq(*object_guid))
                .filter(account_password::Column::SealedPending.eq(reseal.from.as_str()))
                .exec(db)
                .await?
                .rows_affected
        }
        SealedSlot::ActivationCode { message_id, .. } => {
            outbox::Entity::update_many()
                .col_expr(
                    outbox::Column::SealedActivationCode,
                    Expr::value(reseal.to.clone()),
                )
                .filter(outbox::Column::Id.eq(*message_id))
                .filter(outbox::Column::SealedActivationCode.eq(reseal.from.as_str()))
                .exec(db)
                .await?
                .rows_affected
        }
        SealedSlot::Setting { key } => {
            setting::Entity::update_many()
                .col_expr(setting::Column::Value, Expr::value(reseal.to.clone()))
                .filter(setting::Column::Key.eq(key.as_str()))
                .filter(setting::Column::Value.eq(reseal.from.as_str()))
                .exec(db)
                .await?
                .rows_affected
        }
    };
    Ok(rows == 1)
}
