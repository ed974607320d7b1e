//! The password state of each domain account that lives on a key (docs/product.md §3).
//!
//! One row per account holds the committed version with its sealed value and at most one
//! rotation in flight. The service computes each next state; the store writes it
//! version-checked (`row_version`) together with its audit records and notification, so two
//! processes can never both advance one rotation, and a crash leaves either the old or the new
//! state, never half of one. Sealed values are opaque text here: the store never sees a
//! password.

use chrono::{DateTime, Utc};
use keyward_model::NewAuditRecord;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use crate::entity::account_password;
use crate::{Error, Result, Store, audit};

/// Where a rotation is (docs/product.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RotationState {
    /// Nothing in flight.
    Idle,
    /// The sealed candidate waits for the key to acknowledge it.
    AwaitingKey,
    /// The key holds the candidate; the directory has not taken it yet.
    AwaitingDirectory,
    /// The directory refused the candidate; the key must go back to the committed version.
    RollingBack,
}

impl RotationState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::AwaitingKey => "awaiting_key",
            Self::AwaitingDirectory => "awaiting_directory",
            Self::RollingBack => "rolling_back",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "idle" => Self::Idle,
            "awaiting_key" => Self::AwaitingKey,
            "awaiting_directory" => Self::AwaitingDirectory,
            "rolling_back" => Self::RollingBack,
            _ => return None,
        })
    }
}

/// The rotation in flight of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRotation {
    /// The candidate's version (the committed one plus one).
    pub version: i64,
    /// The candidate, sealed.
    pub sealed: String,
    /// `reset` (an administrator's reset) or `change` (a user change with the old password).
    pub method: String,
    /// What started it (`key_activation`, `max_age`, `admin_generate`, …).
    pub reason: String,
    /// Who started it.
    pub requested_by: String,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// When the key acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// The password state of one account, without its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordState {
    /// The key that holds the account.
    pub key_serial: Option<String>,
    /// The committed version (0: the domain password keyward never knew).
    pub version: i64,
    /// The committed value, sealed; `None` when keyward does not know it.
    pub sealed_current: Option<String>,
    /// When the committed version was committed.
    pub committed_at: Option<DateTime<Utc>>,
    /// Where the rotation in flight is.
    pub state: RotationState,
    /// The rotation in flight (present exactly when `state` is not `Idle`).
    pub pending: Option<PendingRotation>,
    /// Directory attempts of the rotation in flight.
    pub attempts: u32,
    /// When the next directory attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// A worker holds the directory step until this instant.
    pub claimed_until: Option<DateTime<Utc>>,
    /// The last failure, in one line.
    pub last_error: Option<String>,
}

impl PasswordState {
    /// The state of an account keyward has never rotated.
    pub fn new(key_serial: Option<String>) -> Self {
        Self {
            key_serial,
            version: 0,
            sealed_current: None,
            committed_at: None,
            state: RotationState::Idle,
            pending: None,
            attempts: 0,
            next_attempt_at: None,
            claimed_until: None,
            last_error: None,
        }
    }
}

/// A stored account password row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPassword {
    /// The directory's name.
    pub directory: String,
    /// The account's objectGUID.
    pub object_guid: Uuid,
    /// Its state.
    pub state: PasswordState,
    /// The optimistic version of the row.
    pub row_version: i64,
}

/// One version-checked write of an account's password state.
#[derive(Debug, Clone)]
pub struct PasswordWrite {
    /// The directory's name.
    pub directory: String,
    /// The account's objectGUID.
    pub object_guid: Uuid,
    /// The row version the state was computed from; `None` when the row must not exist yet.
    pub expected_row_version: Option<i64>,
    /// The new state.
    pub state: PasswordState,
    /// Audit records written with it.
    pub audit: Vec<NewAuditRecord>,
    /// A notification queued with it.
    pub notify: Option<crate::NewMessage>,
    /// When.
    pub now: DateTime<Utc>,
}

impl Store {
    /// The password state of one account.
    pub async fn account_password(
        &self,
        directory: &str,
        object_guid: Uuid,
    ) -> Result<Option<AccountPassword>> {
        let row = account_password::Entity::find_by_id((directory.to_owned(), object_guid))
            .one(&self.db)
            .await?;
        row.map(to_model).transpose()
    }

    /// The password states of the accounts a key holds, or of every account.
    pub async fn account_passwords(
        &self,
        key_serial: Option<&str>,
    ) -> Result<Vec<AccountPassword>> {
        let mut query = account_password::Entity::find()
            .order_by_asc(account_password::Column::Directory)
            .order_by_asc(account_password::Column::ObjectGuid);
        if let Some(serial) = key_serial {
            query = query.filter(account_password::Column::KeySerial.eq(serial));
        }
        query
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_model)
            .collect()
    }

    /// Stores one write; [`Error::Stale`] when the row changed since it was read.
    pub async fn save_account_password(&self, write: &PasswordWrite) -> Result<AccountPassword> {
        let txn = self.db.begin().await?;
        save_on(&txn, write).await?;
        let row =
            account_password::Entity::find_by_id((write.directory.clone(), write.object_guid))
                .one(&txn)
                .await?
                .ok_or_else(|| {
                    Error::corrupt(
                        "account_passwords",
                        &format!("{}/{}", write.directory, write.object_guid),
                        &"row vanished in its transaction",
                    )
                })?;
        txn.commit().await?;
        to_model(row)
    }

    /// Claims up to `limit` rotations whose directory step is due, for `until`, except the
    /// accounts in `skip` (those a worker already tried in this pass): the claim keeps other
    /// workers off them; a claim of a crashed worker expires.
    pub async fn claim_directory_steps(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u64,
        skip: &[(String, Uuid)],
    ) -> Result<Vec<AccountPassword>> {
        let mut query = account_password::Entity::find();
        for (directory, object_guid) in skip {
            query = query.filter(
                sea_orm::Condition::any()
                    .add(account_password::Column::Directory.ne(directory.clone()))
                    .add(account_password::Column::ObjectGuid.ne(*object_guid)),
            );
        }
        let due = query
            .filter(account_password::Column::State.eq(RotationState::AwaitingDirectory.as_str()))
            .filter(account_password::Column::NextAttemptAt.lte(now))
            .filter(
                sea_orm::Condition::any()
                    .add(account_password::Column::ClaimedUntil.is_null())
                    .add(account_password::Column::ClaimedUntil.lt(now)),
            )
            .order_by_asc(account_password::Column::NextAttemptAt)
            .limit(limit)
            .all(&self.db)
            .await?;
        let mut claimed = Vec::with_capacity(due.len());
        for row in due {
            let affected = account_password::Entity::update_many()
                .col_expr(
                    account_password::Column::ClaimedUntil,
                    Expr::value(Some(until)),
                )
                .col_expr(
                    account_password::Column::RowVersion,
                    Expr::value(row.row_version + 1),
                )
                .filter(account_password::Column::Directory.eq(row.directory.clone()))
                .filter(account_password::Column::ObjectGuid.eq(row.object_guid))
                .filter(account_password::Column::RowVersion.eq(row.row_version))
                .exec(&self.db)
                .await?
                .rows_affected;
            if affected == 1 {
                let mut model = to_model(row)?;
                model.row_version += 1;
                model.state.claimed_until = Some(until);
                claimed.push(model);
            }
        }
        Ok(claimed)
    }
}

/// Applies one write on `db` (a transaction of the caller).
pub(crate) async fn save_on(db: &impl ConnectionTrait, write: &PasswordWrite) -> Result<()> {
    match write.expected_row_version {
        None => insert_row(db, write).await?,
        Some(expected) => update_row(db, write, expected).await?,
    }
    audit::append_many(db, &write.audit).await?;
    if let Some(message) = &write.notify {
        crate::outbox::insert_message(db, message, write.now).await?;
    }
    Ok(())
}

fn stale(write: &PasswordWrite) -> Error {
    Error::Stale {
        what: "account password",
        key: format!("{}/{}", write.directory, write.object_guid),
    }
}

fn attempts(state: &PasswordState) -> i32 {
    i32::try_from(state.attempts).unwrap_or(i32::MAX)
}

/// The first write of an account's row; a row that exists already means a concurrent writer.
async fn insert_row(db: &impl ConnectionTrait, write: &PasswordWrite) -> Result<()> {
    let s = &write.state;
    let pending = s.pending.as_ref();
    account_password::ActiveModel {
        directory: Set(write.directory.clone()),
        object_guid: Set(write.object_guid),
        key_serial: Set(s.key_serial.clone()),
        version: Set(s.version),
        sealed_current: Set(s.sealed_current.clone()),
        committed_at: Set(s.committed_at),
        state: Set(s.state.as_str().to_owned()),
        pending_version: Set(pending.map(|p| p.version)),
        sealed_pending: Set(pending.map(|p| p.sealed.clone())),
        method: Set(pending.map(|p| p.method.clone())),
        reason: Set(pending.map(|p| p.reason.clone())),
        requested_by: Set(pending.map(|p| p.requested_by.clone())),
        requested_at: Set(pending.map(|p| p.requested_at)),
        acknowledged_at: Set(pending.and_then(|p| p.acknowledged_at)),
        attempts: Set(attempts(s)),
        next_attempt_at: Set(s.next_attempt_at),
        claimed_until: Set(s.claimed_until),
        last_error: Set(s.last_error.clone()),
        row_version: Set(1),
    }
    .insert(db)
    .await
    .map_err(|e| match Error::from_write(e, "account password", "") {
        Error::Conflict { .. } => stale(write),
        other => other,
    })?;
    Ok(())
}

/// Replaces every column of the row if it still has `expected` as its version.
async fn update_row(db: &impl ConnectionTrait, write: &PasswordWrite, expected: i64) -> Result<()> {
    use account_password::Column as C;
    let s = &write.state;
    let pending = s.pending.as_ref();
    let affected = account_password::Entity::update_many()
        .col_expr(C::KeySerial, Expr::value(s.key_serial.clone()))
        .col_expr(C::Version, Expr::value(s.version))
        .col_expr(C::SealedCurrent, Expr::value(s.sealed_current.clone()))
        .col_expr(C::CommittedAt, Expr::value(s.committed_at))
        .col_expr(C::State, Expr::value(s.state.as_str()))
        .col_expr(C::PendingVersion, Expr::value(pending.map(|p| p.version)))
        .col_expr(
            C::SealedPending,
            Expr::value(pending.map(|p| p.sealed.clone())),
        )
        .col_expr(C::Method, Expr::value(pending.map(|p| p.method.clone())))
        .col_expr(C::Reason, Expr::value(pending.map(|p| p.reason.clone())))
        .col_expr(
            C::RequestedBy,
            Expr::value(pending.map(|p| p.requested_by.clone())),
        )
        .col_expr(C::RequestedAt, Expr::value(pending.map(|p| p.requested_at)))
        .col_expr(
            C::AcknowledgedAt,
            Expr::value(pending.and_then(|p| p.acknowledged_at)),
        )
        .col_expr(C::Attempts, Expr::value(attempts(s)))
        .col_expr(C::NextAttemptAt, Expr::value(s.next_attempt_at))
        .col_expr(C::ClaimedUntil, Expr::value(s.claimed_until))
        .col_expr(C::LastError, Expr::value(s.last_error.clone()))
        .col_expr(C::RowVersion, Expr::value(expected + 1))
        .filter(C::Directory.eq(write.directory.clone()))
        .filter(C::ObjectGuid.eq(write.object_guid))
        .filter(C::RowVersion.eq(expected))
        .exec(db)
        .await?
        .rows_affected;
    if affected == 1 {
        Ok(())
    } else {
        Err(stale(write))
    }
}

fn to_model(row: account_password::Model) -> Result<AccountPassword> {
    let state = RotationState::parse(&row.state).ok_or_else(|| {
        Error::corrupt(
            "account_passwords",
            &format!("{}/{}", row.directory, row.object_guid),
            &format!("state {:?}", row.state),
        )
    })?;
    let pending = match (row.pending_version, row.sealed_pending) {
        (Some(version), Some(sealed)) => Some(PendingRotation {
            version,
            sealed,
            method: row.method.unwrap_or_else(|| "reset".into()),
            reason: row.reason.unwrap_or_default(),
            requested_by: row.requested_by.unwrap_or_default(),
            requested_at: row.requested_at.unwrap_or_default(),
            acknowledged_at: row.acknowledged_at,
        }),
        _ => None,
    };
    Ok(AccountPassword {
        directory: row.directory,
        object_guid: row.object_guid,
        state: PasswordState {
            key_serial: row.key_serial,
            version: row.version,
            sealed_current: row.sealed_current,
            committed_at: row.committed_at,
            state,
            pending,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            next_attempt_at: row.next_attempt_at,
            claimed_until: row.claimed_until,
            last_error: row.last_error,
        },
        row_version: row.row_version,
    })
}
