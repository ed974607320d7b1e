//! The outbox of mail to send. Rows are written in the same transaction as what causes them (a
//! sync that creates an employee, a key assignment), so a message is never lost and never queued
//! for something that did not happen. A worker claims due rows, sends them, and records the
//! outcome.
//!
//! A claim is fenced: the worker records an outcome only while the row is still `sending` with
//! the `claimed_until` it claimed it with. A worker whose claim ran out (and whose message another
//! worker took over) therefore cannot overwrite the other worker's outcome; it is told so and
//! records nothing.

use chrono::{DateTime, SubsecRound as _, Utc};
use keyward_model::EmployeeId;
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::entity::outbox;
use crate::{Result, Store};

/// A message waiting in (or gone from) the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Id; also the message's Message-ID, so a receiver can recognise a resend.
    pub id: Uuid,
    /// `invitation`, `key_assigned` or `password_rotated`.
    pub kind: String,
    /// The employee it is for.
    pub employee_id: EmployeeId,
    /// The address it goes to.
    pub recipient: String,
    /// What it is about: the invitation id, the key serial or the account.
    pub subject_ref: String,
    /// `queued`, `sending`, `sent`, `failed` or `cancelled`.
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// While `sending`: until when the sender holds it. A claimed message carries the value it
    /// was claimed with, which its outcome must present.
    pub claimed_until: Option<DateTime<Utc>>,
    /// The last delivery error, or why it was cancelled.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When the SMTP server accepted it.
    pub sent_at: Option<DateTime<Utc>>,
    /// A key notification's activation code, sealed with the key-encryption key for this row;
    /// present only until the message is sent, cancelled or given up.
    pub sealed_activation_code: Option<String>,
}

/// A message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// `invitation`, `key_assigned` or `password_rotated`.
    pub kind: &'static str,
    /// The employee.
    pub employee_id: EmployeeId,
    /// The address.
    pub recipient: String,
    /// The invitation id, key serial or account.
    pub subject_ref: String,
}

/// The notification a key change queues. Its id is chosen by the caller, because a sealed
/// activation code is bound to the row it is stored in and must be sealed before the row exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyNotice {
    /// The outbox row's id.
    pub id: Uuid,
    /// The message.
    pub message: NewMessage,
    /// The activation code sealed for this row, when the configuration mails it.
    pub sealed_activation_code: Option<String>,
}

/// Inserts one message on `db` (a transaction of the caller).
pub(crate) async fn insert_message(
    db: &impl ConnectionTrait,
    m: &NewMessage,
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    insert_row(db, id, m, None, now).await?;
    Ok(id)
}

/// Inserts a key change's notification on `db`.
pub(crate) async fn insert_notice(
    db: &impl ConnectionTrait,
    notice: &KeyNotice,
    now: DateTime<Utc>,
) -> Result<()> {
    insert_row(
        db,
        notice.id,
        &notice.message,
        notice.sealed_activation_code.clone(),
        now,
    )
    .await
}

async fn insert_row(
    db: &impl ConnectionTrait,
    id: Uuid,
    m: &NewMessage,
    sealed_activation_code: Option<String>,
    now: DateTime<Utc>,
) -> Result<()> {
    outbox::ActiveModel {
        id: Set(id),
        kind: Set(m.kind.to_owned()),
        employee_id: Set(m.employee_id.as_uuid()),
        recipient: Set(m.recipient.clone()),
        subject_ref: Set(m.subject_ref.clone()),
        status: Set("queued".into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
        sealed_activation_code: Set(sealed_activation_code),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Cancels the unsent messages about `subject_ref` on `db`: queued, failed, and also one being
/// sent, whose sender then finds its claim gone and records nothing.
pub(crate) async fn cancel_unsent(db: &impl ConnectionTrait, subject_ref: &str) -> Result<()> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value("cancelled"))
        .col_expr(outbox::Column::ClaimedUntil, null_time())
        .col_expr(outbox::Column::SealedActivationCode, null_text())
        .filter(outbox::Column::SubjectRef.eq(subject_ref))
        .filter(outbox::Column::Status.is_in(["queued", "failed", "sending"]))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets `claim` on `db` again, changing nothing: true while the sender still holds the message.
/// Run first in a transaction, it also locks the row, so nothing can take the claim away
/// before the transaction ends.
pub(crate) async fn hold_claim(
    db: &impl ConnectionTrait,
    id: Uuid,
    claimed_until: DateTime<Utc>,
) -> Result<bool> {
    let held = claimed(outbox::Entity::update_many(), id, claimed_until)
        .col_expr(
            outbox::Column::ClaimedUntil,
            Expr::col(outbox::Column::ClaimedUntil),
        )
        .exec(db)
        .await?;
    Ok(held.rows_affected == 1)
}

/// Restricts an update to the message while it is `sending` under `claimed_until`.
fn claimed(
    update: sea_orm::UpdateMany<outbox::Entity>,
    id: Uuid,
    claimed_until: DateTime<Utc>,
) -> sea_orm::UpdateMany<outbox::Entity> {
    update
        .filter(outbox::Column::Id.eq(id))
        .filter(outbox::Column::Status.eq("sending"))
        .filter(outbox::Column::ClaimedUntil.eq(claimed_until))
}

fn null_time() -> SimpleExpr {
    Expr::value(None::<DateTime<Utc>>)
}

fn null_text() -> SimpleExpr {
    Expr::value(None::<String>)
}

impl Store {
    /// Claims up to `limit` messages that are due (queued and due, or claimed by a sender whose
    /// claim ran out, e.g. a process that crashed) until `claim_until`, except those in `skip`.
    /// A message is claimed by one sender only; each returned message carries the
    /// `claimed_until` its outcome must present.
    pub async fn claim_due_messages(
        &self,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        limit: u64,
        skip: &[Uuid],
    ) -> Result<Vec<OutboxMessage>> {
        // PostgreSQL keeps microseconds: the fencing value must compare equal after the round
        // trip, so it is cut to what every backend stores.
        let claim_until = claim_until.trunc_subsecs(6);
        let mut query = outbox::Entity::find();
        if !skip.is_empty() {
            query = query.filter(outbox::Column::Id.is_not_in(skip.iter().copied()));
        }
        let candidates = query
            .filter(
                sea_orm::Condition::any()
                    .add(
                        sea_orm::Condition::all()
                            .add(outbox::Column::Status.eq("queued"))
                            .add(outbox::Column::NextAttemptAt.lte(now)),
                    )
                    .add(
                        sea_orm::Condition::all()
                            .add(outbox::Column::Status.eq("sending"))
                            .add(outbox::Column::ClaimedUntil.lt(now)),
                    ),
            )
            .order_by_asc(outbox::Column::NextAttemptAt)
            .limit(limit)
            .all(&self.db)
            .await?;
        let mut claimed = Vec::new();
        for row in candidates {
            let mut update = outbox::Entity::update_many()
                .col_expr(outbox::Column::Status, Expr::value("sending"))
                .col_expr(outbox::Column::ClaimedUntil, Expr::value(Some(claim_until)))
                .filter(outbox::Column::Id.eq(row.id))
                .filter(outbox::Column::Status.eq(row.status.clone()));
            update = match row.claimed_until {
                Some(until) => update.filter(outbox::Column::ClaimedUntil.eq(until)),
                None => update.filter(outbox::Column::ClaimedUntil.is_null()),
            };
            if update.exec(&self.db).await?.rows_affected == 1 {
                let mut row = row;
                row.status = "sending".into();
                row.claimed_until = Some(claim_until);
                claimed.push(message_of(row));
            }
        }
        Ok(claimed)
    }

    /// Records that the SMTP server accepted a message claimed until `claimed_until`, and drops
    /// its sealed activation code. False when the claim was lost (nothing changes).
    pub async fn mark_message_sent(
        &self,
        id: Uuid,
        claimed_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = claimed(outbox::Entity::update_many(), id, claimed_until)
            .col_expr(outbox::Column::Status, Expr::value("sent"))
            .col_expr(outbox::Column::SentAt, Expr::value(Some(now)))
            .col_expr(
                outbox::Column::Attempts,
                Expr::col(outbox::Column::Attempts).add(1),
            )
            .col_expr(outbox::Column::ClaimedUntil, null_time())
            .col_expr(outbox::Column::LastError, null_text())
            .col_expr(outbox::Column::SealedActivationCode, null_text())
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected == 1)
    }

    /// Records a failed attempt of a message claimed until `claimed_until`: retried at
    /// `retry_at`, or `failed` for good when `give_up` (then its sealed activation code is
    /// dropped, since it will never be sent). False when the claim was lost (nothing changes).
    pub async fn mark_message_failed(
        &self,
        id: Uuid,
        claimed_until: DateTime<Utc>,
        error: &str,
        retry_at: DateTime<Utc>,
        give_up: bool,
    ) -> Result<bool> {
        let mut update = claimed(outbox::Entity::update_many(), id, claimed_until)
            .col_expr(
                outbox::Column::Status,
                Expr::value(if give_up { "failed" } else { "queued" }),
            )
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(retry_at))
            .col_expr(outbox::Column::ClaimedUntil, null_time())
            .col_expr(
                outbox::Column::Attempts,
                Expr::col(outbox::Column::Attempts).add(1),
            )
            .col_expr(
                outbox::Column::LastError,
                Expr::value(Some(error.to_owned())),
            );
        if give_up {
            update = update.col_expr(outbox::Column::SealedActivationCode, null_text());
        }
        Ok(update.exec(&self.db).await?.rows_affected == 1)
    }

    /// Cancels a message claimed until `claimed_until` instead of sending it (what it is about
    /// no longer holds), with the reason in `last_error`, and drops its sealed activation code.
    /// False when the claim was lost (nothing changes).
    pub async fn cancel_message(
        &self,
        id: Uuid,
        claimed_until: DateTime<Utc>,
        reason: &str,
    ) -> Result<bool> {
        let done = claimed(outbox::Entity::update_many(), id, claimed_until)
            .col_expr(outbox::Column::Status, Expr::value("cancelled"))
            .col_expr(outbox::Column::ClaimedUntil, null_time())
            .col_expr(
                outbox::Column::LastError,
                Expr::value(Some(reason.to_owned())),
            )
            .col_expr(outbox::Column::SealedActivationCode, null_text())
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected == 1)
    }

    /// Every message, newest first.
    pub async fn list_messages(&self, limit: u64) -> Result<Vec<OutboxMessage>> {
        Ok(outbox::Entity::find()
            .order_by_desc(outbox::Column::CreatedAt)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(message_of)
            .collect())
    }

    /// One message.
    pub async fn message(&self, id: Uuid) -> Result<Option<OutboxMessage>> {
        Ok(outbox::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(message_of))
    }
}

pub(crate) fn message_of(r: outbox::Model) -> OutboxMessage {
    OutboxMessage {
        id: r.id,
        kind: r.kind,
        employee_id: EmployeeId::from_uuid(r.employee_id),
        recipient: r.recipient,
        subject_ref: r.subject_ref,
        status: r.status,
        attempts: u32::try_from(r.attempts).unwrap_or(0),
        next_attempt_at: r.next_attempt_at,
        claimed_until: r.claimed_until,
        last_error: r.last_error,
        created_at: r.created_at,
        sent_at: r.sent_at,
        sealed_activation_code: r.sealed_activation_code,
    }
}
