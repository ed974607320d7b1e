//! Hardware keys and activation codes.
//!
//! Changes are optimistic: each carries the version it was computed from, and the first
//! statement of its transaction is the version-checked write. A change computed from a stale
//! version affects no row and is refused as [`Error::Stale`], so of two concurrent operations
//! on one key exactly one wins. Writing first (instead of reading inside the transaction) also
//! lets SQLite wait for the write lock instead of failing on a stale read snapshot.

use chrono::{DateTime, Utc};
use keyward_keys::{Key, KeySerial, KeyStatus, Reason};
use keyward_model::{Cursor, EmployeeId, NewAuditRecord, Page, PageRequest};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::entity::{activation_code, key};
use crate::{Error, Result, Store, audit};

/// A live activation code as stored (its hash, never the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    /// The encoded slow hash.
    pub code_hash: String,
    /// After this instant the code is refused.
    pub expires_at: DateTime<Utc>,
    /// Wrong attempts so far.
    pub attempts_used: u8,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
}

/// What a change does to the key's activation code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeChange {
    /// Leave it as it is.
    Keep,
    /// Replace any live code with this one.
    Replace(StoredCode),
    /// Delete any live code.
    Delete,
}

/// The key's state after a change; `None` deletes the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    /// New status.
    pub status: KeyStatus,
    /// New owner.
    pub employee_id: Option<EmployeeId>,
    /// New reason.
    pub reason: Option<Reason>,
    /// New description.
    pub description: Option<String>,
    /// New wipe flag.
    pub wipe_pending: bool,
    /// What the step does to the workstation that holds the key and to the key proof.
    pub binding: BindingChange,
}

/// What a lifecycle step does to the key's holder (the workstation that proved possession of
/// the key) and to the key proof, in the same version-checked write as the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingChange {
    /// No workstation holds the key and the proof is forgotten: the key changes hands (assign,
    /// cancel, wipe confirmed, compromise).
    Clear,
    /// No workstation holds the key; the proof stays on record, so the workstation that has the
    /// key in hand can prove it again (suspend, lock, unlock, deactivate, an administrator's
    /// resume).
    Release,
    /// `holder` proved possession in this very step (the activation code typed on it) and
    /// gets a new proof, stored as its SHA-256.
    Issue {
        /// The workstation id.
        holder: String,
        /// SHA-256 of the new proof.
        proof_hash: String,
    },
}

/// A change of the key's holder outside a lifecycle step: a workstation that presented the
/// key proof takes the key, or the holder renews the proof. Version-checked like a lifecycle
/// step, and it moves the version, so a change computed before it is refused.
#[derive(Debug, Clone)]
pub struct HolderChange {
    /// The key.
    pub serial: KeySerial,
    /// The version the change was computed from.
    pub expected_version: i64,
    /// The workstation that holds the key from now on.
    pub holder: String,
    /// A new proof's SHA-256, or `None` to keep the proof.
    pub new_proof_hash: Option<String>,
    /// The audit record of the change.
    pub audit: NewAuditRecord,
    /// When.
    pub now: DateTime<Utc>,
}

/// The outcome of reserving an activation attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptReservation {
    /// The key has no live code.
    NoCode,
    /// The code expired; no attempt was counted.
    Expired,
    /// Every attempt is used; nothing was counted.
    Exhausted,
    /// The attempt is counted (it is number `number`, from 1); compare against `code_hash`.
    Counted {
        /// Which attempt this is, counting this one.
        number: u8,
        /// The hash to compare the presented code with.
        code_hash: String,
    },
}

/// One lifecycle step to store atomically with its audit record.
#[derive(Debug, Clone)]
pub struct KeyChange {
    /// The key.
    pub serial: KeySerial,
    /// The version the change was computed from.
    pub expected_version: i64,
    /// The new state, or `None` to delete the key.
    pub state: Option<KeyState>,
    /// What happens to the activation code.
    pub code: CodeChange,
    /// The audit record of the step.
    pub audit: NewAuditRecord,
    /// When.
    pub now: DateTime<Utc>,
    /// A notification to queue in the same transaction.
    pub notify: Option<crate::KeyNotice>,
    /// Password-state writes that belong to the step (a first rotation started by an
    /// activation, rotations dropped by a deactivation), in the same transaction.
    pub passwords: Vec<crate::PasswordWrite>,
}

impl Store {
    /// Imports keys in stock (Ready), all or none: a serial that exists already is
    /// [`Error::Conflict`] and nothing is written.
    pub async fn import_keys(
        &self,
        serials: &[KeySerial],
        now: DateTime<Utc>,
        audits: &[NewAuditRecord],
    ) -> Result<Vec<Key>> {
        let txn = self.begin_write().await?;
        let mut imported = Vec::with_capacity(serials.len());
        for serial in serials {
            let row = key::ActiveModel {
                serial: Set(serial.as_str().to_owned()),
                status: Set(KeyStatus::Ready.as_str().to_owned()),
                employee_id: Set(None),
                reason: Set(None),
                description: Set(None),
                linked_workstation: Set(None),
                proof_hash: Set(None),
                wipe_pending: Set(false),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await
            .map_err(|e| Error::from_write(e, "key with serial", serial.as_str()))?;
            imported.push(to_model(&row)?);
        }
        for record in audits {
            audit::append(&txn, record).await?;
        }
        txn.commit().await?;
        Ok(imported)
    }

    /// The key with this serial, if any.
    pub async fn key(&self, serial: &KeySerial) -> Result<Option<Key>> {
        key::Entity::find_by_id(serial.as_str().to_owned())
            .one(&self.db)
            .await?
            .as_ref()
            .map(to_model)
            .transpose()
    }

    /// One page of keys by serial, optionally only those in `status`. The cursor is the last
    /// serial of the previous page.
    pub async fn list_keys(
        &self,
        status: Option<KeyStatus>,
        page: &PageRequest,
    ) -> Result<Page<Key>> {
        let mut query = key::Entity::find().order_by_asc(key::Column::Serial);
        if let Some(status) = status {
            query = query.filter(key::Column::Status.eq(status.as_str()));
        }
        if let Some(cursor) = &page.after {
            let after = KeySerial::parse(cursor.as_str()).map_err(|_| Error::InvalidCursor {
                cursor: cursor.as_str().to_owned(),
            })?;
            query = query.filter(key::Column::Serial.gt(after.as_str()));
        }
        let mut rows = query.limit(u64::from(page.limit) + 1).all(&self.db).await?;
        let has_more = rows.len() > page.limit as usize;
        rows.truncate(page.limit as usize);
        let items = rows.iter().map(to_model).collect::<Result<Vec<_>>>()?;
        let next_cursor = if has_more {
            items
                .last()
                .map(|k| Cursor::new(k.serial.as_str().to_owned()))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// The keys an employee holds in any status.
    pub async fn keys_of(&self, employee: EmployeeId) -> Result<Vec<Key>> {
        key::Entity::find()
            .filter(key::Column::EmployeeId.eq(employee.as_uuid()))
            .order_by_asc(key::Column::Serial)
            .all(&self.db)
            .await?
            .iter()
            .map(to_model)
            .collect()
    }

    /// The keys held by any of `employees`, by serial.
    pub async fn keys_of_many(&self, employees: &[EmployeeId]) -> Result<Vec<Key>> {
        let mut out = Vec::new();
        for chunk in employees.chunks(crate::ID_LIST_CHUNK) {
            let rows = key::Entity::find()
                .filter(key::Column::EmployeeId.is_in(chunk.iter().map(EmployeeId::as_uuid)))
                .order_by_asc(key::Column::Serial)
                .all(&self.db)
                .await?;
            for row in &rows {
                out.push(to_model(row)?);
            }
        }
        Ok(out)
    }

    /// The live activation code of a key, if any.
    pub async fn activation_code(&self, serial: &KeySerial) -> Result<Option<StoredCode>> {
        let row = activation_code::Entity::find_by_id(serial.as_str().to_owned())
            .one(&self.db)
            .await?;
        Ok(row.map(|r| StoredCode {
            code_hash: r.code_hash,
            expires_at: r.expires_at,
            attempts_used: u8::try_from(r.attempts_used).unwrap_or(u8::MAX),
            issued_at: r.issued_at,
        }))
    }

    /// Counts an activation attempt before the presented code is compared, so that N
    /// concurrent guesses count N attempts: one conditional increment (`attempts_used <
    /// max_attempts`) and the read of the row it changed, in one transaction. An expired code
    /// counts nothing.
    pub async fn reserve_code_attempt(
        &self,
        serial: &KeySerial,
        max_attempts: u8,
        now: DateTime<Utc>,
    ) -> Result<AttemptReservation> {
        let txn = self.begin_write().await?;
        // The write comes first (see the module documentation): SQLite takes its write lock
        // here, PostgreSQL locks the row until the commit.
        let updated = activation_code::Entity::update_many()
            .col_expr(
                activation_code::Column::AttemptsUsed,
                Expr::col(activation_code::Column::AttemptsUsed).add(1),
            )
            .filter(activation_code::Column::Serial.eq(serial.as_str()))
            .filter(activation_code::Column::AttemptsUsed.lt(i32::from(max_attempts)))
            .filter(activation_code::Column::ExpiresAt.gte(now))
            .exec(&txn)
            .await?
            .rows_affected;
        let row = activation_code::Entity::find_by_id(serial.as_str().to_owned())
            .one(&txn)
            .await?;
        txn.commit().await?;
        let Some(row) = row else {
            return Ok(AttemptReservation::NoCode);
        };
        if updated == 1 {
            return Ok(AttemptReservation::Counted {
                number: u8::try_from(row.attempts_used).unwrap_or(u8::MAX),
                code_hash: row.code_hash,
            });
        }
        if row.expires_at < now {
            Ok(AttemptReservation::Expired)
        } else {
            Ok(AttemptReservation::Exhausted)
        }
    }

    /// Stores one lifecycle step atomically: the version-checked key write, the code change and
    /// the audit record. Returns the key after the change (`None` when deleted).
    pub async fn apply_key_change(&self, change: &KeyChange) -> Result<Option<Key>> {
        let txn = self.begin_write().await?;
        let serial = change.serial.as_str();
        // The version-checked write comes first: see the module documentation.
        if write_key_row(&txn, change).await? != 1 {
            return Err(Error::Stale {
                what: "key",
                key: serial.to_owned(),
            });
        }
        apply_code_change(&txn, serial, &change.code).await?;
        audit::append(&txn, &change.audit).await?;
        if let Some(notice) = &change.notify {
            crate::outbox::insert_notice(&txn, notice, change.now).await?;
        }
        for write in &change.passwords {
            crate::passwords::save_on(&txn, write).await?;
        }
        let after = key::Entity::find_by_id(serial.to_owned()).one(&txn).await?;
        txn.commit().await?;
        after.as_ref().map(to_model).transpose()
    }
}

impl Store {
    /// The key and the SHA-256 of its proof (`None`: the key has none), read together.
    pub async fn key_with_proof(
        &self,
        serial: &KeySerial,
    ) -> Result<Option<(Key, Option<String>)>> {
        key::Entity::find_by_id(serial.as_str().to_owned())
            .one(&self.db)
            .await?
            .map(|row| Ok((to_model(&row)?, row.proof_hash)))
            .transpose()
    }

    /// Stores a change of holder with its audit record, if the key still has the expected
    /// version; [`Error::Stale`] otherwise. Returns the key after the change.
    pub async fn change_key_holder(&self, change: &HolderChange) -> Result<Key> {
        let serial = change.serial.as_str();
        let txn = self.begin_write().await?;
        let mut update = key::Entity::update_many()
            .col_expr(
                key::Column::LinkedWorkstation,
                Expr::value(change.holder.clone()),
            )
            .col_expr(
                key::Column::Version,
                Expr::value(change.expected_version + 1),
            )
            .col_expr(key::Column::UpdatedAt, Expr::value(change.now));
        if let Some(hash) = &change.new_proof_hash {
            update = update.col_expr(key::Column::ProofHash, Expr::value(hash.clone()));
        }
        let affected = update
            .filter(key::Column::Serial.eq(serial))
            .filter(key::Column::Version.eq(change.expected_version))
            .exec(&txn)
            .await?
            .rows_affected;
        if affected != 1 {
            return Err(Error::Stale {
                what: "key",
                key: serial.to_owned(),
            });
        }
        audit::append(&txn, &change.audit).await?;
        let after = key::Entity::find_by_id(serial.to_owned())
            .one(&txn)
            .await?
            .ok_or_else(|| Error::Stale {
                what: "key",
                key: serial.to_owned(),
            })?;
        txn.commit().await?;
        to_model(&after)
    }
}

/// Updates or deletes the key row if it still has the expected version; returns rows affected.
async fn write_key_row(db: &impl ConnectionTrait, change: &KeyChange) -> Result<u64> {
    let serial = change.serial.as_str();
    let affected = if let Some(next) = &change.state {
        let update = key::Entity::update_many()
            .col_expr(key::Column::Status, Expr::value(next.status.as_str()))
            .col_expr(
                key::Column::EmployeeId,
                Expr::value(next.employee_id.map(|e| e.as_uuid())),
            )
            .col_expr(
                key::Column::Reason,
                Expr::value(next.reason.map(|r| r.as_str().to_owned())),
            )
            .col_expr(
                key::Column::Description,
                Expr::value(next.description.clone()),
            )
            .col_expr(key::Column::WipePending, Expr::value(next.wipe_pending))
            .col_expr(
                key::Column::Version,
                Expr::value(change.expected_version + 1),
            )
            .col_expr(key::Column::UpdatedAt, Expr::value(change.now));
        let update = match &next.binding {
            BindingChange::Clear => update
                .col_expr(key::Column::LinkedWorkstation, Expr::value(None::<String>))
                .col_expr(key::Column::ProofHash, Expr::value(None::<String>)),
            BindingChange::Release => {
                update.col_expr(key::Column::LinkedWorkstation, Expr::value(None::<String>))
            }
            BindingChange::Issue { holder, proof_hash } => update
                .col_expr(key::Column::LinkedWorkstation, Expr::value(holder.clone()))
                .col_expr(key::Column::ProofHash, Expr::value(proof_hash.clone())),
        };
        update
            .filter(key::Column::Serial.eq(serial))
            .filter(key::Column::Version.eq(change.expected_version))
            .exec(db)
            .await?
            .rows_affected
    } else {
        key::Entity::delete_many()
            .filter(key::Column::Serial.eq(serial))
            .filter(key::Column::Version.eq(change.expected_version))
            .exec(db)
            .await?
            .rows_affected
    };
    Ok(affected)
}

async fn apply_code_change(
    db: &impl ConnectionTrait,
    serial: &str,
    code: &CodeChange,
) -> Result<()> {
    match code {
        CodeChange::Keep => {}
        CodeChange::Delete => {
            activation_code::Entity::delete_by_id(serial.to_owned())
                .exec(db)
                .await?;
        }
        CodeChange::Replace(new) => {
            activation_code::Entity::delete_by_id(serial.to_owned())
                .exec(db)
                .await?;
            activation_code::ActiveModel {
                serial: Set(serial.to_owned()),
                code_hash: Set(new.code_hash.clone()),
                expires_at: Set(new.expires_at),
                attempts_used: Set(i32::from(new.attempts_used)),
                issued_at: Set(new.issued_at),
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

fn to_model(row: &key::Model) -> Result<Key> {
    let corrupt = |e: keyward_keys::Error| Error::corrupt("keys", &row.serial, &e);
    Ok(Key {
        serial: KeySerial::parse(&row.serial).map_err(corrupt)?,
        status: row.status.parse().map_err(corrupt)?,
        employee_id: row.employee_id.map(EmployeeId::from_uuid),
        reason: row
            .reason
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(corrupt)?,
        description: row.description.clone(),
        linked_workstation: row.linked_workstation.clone(),
        wipe_pending: row.wipe_pending,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
