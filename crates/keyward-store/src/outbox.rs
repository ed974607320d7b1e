//! The outbox of mail to send, and invitations. Rows are written in the same transaction as
//! what causes them (a sync that creates an employee, a key assignment), so a message is never
//! lost and never queued for something that did not happen. A worker claims due rows, sends
//! them, and records the outcome.

use chrono::{DateTime, Utc};
use keyward_model::EmployeeId;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use crate::entity::{invitation, outbox};
use crate::{Error, Result, Store};

/// A message waiting in (or gone from) the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Id; also the message's Message-ID, so a receiver can recognise a resend.
    pub id: Uuid,
    /// `invitation` or `key_assigned`.
    pub kind: String,
    /// The employee it is for.
    pub employee_id: EmployeeId,
    /// The address it goes to.
    pub recipient: String,
    /// What it is about: the invitation id or the key serial.
    pub subject_ref: String,
    /// `queued`, `sending`, `sent`, `failed` or `cancelled`.
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When the SMTP server accepted it.
    pub sent_at: Option<DateTime<Utc>>,
}

/// An invitation to enroll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Id.
    pub id: Uuid,
    /// The employee invited.
    pub employee_id: EmployeeId,
    /// `pending`, `accepted` or `revoked`.
    pub status: String,
    /// The link stops working after this.
    pub expires_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When the link was used.
    pub accepted_at: Option<DateTime<Utc>>,
}

/// A message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// `invitation` or `key_assigned`.
    pub kind: &'static str,
    /// The employee.
    pub employee_id: EmployeeId,
    /// The address.
    pub recipient: String,
    /// The invitation id or key serial.
    pub subject_ref: String,
}

/// An invitation to create, with its first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvitation {
    /// The employee.
    pub employee_id: EmployeeId,
    /// The address.
    pub recipient: String,
    /// When the link expires.
    pub expires_at: DateTime<Utc>,
}

/// Inserts invitations and their messages on `db` (a transaction of the caller).
pub(crate) async fn insert_invitations(
    db: &impl ConnectionTrait,
    invitations: &[NewInvitation],
    now: DateTime<Utc>,
) -> Result<()> {
    for inv in invitations {
        let id = Uuid::now_v7();
        invitation::ActiveModel {
            id: Set(id),
            employee_id: Set(inv.employee_id.as_uuid()),
            token_hash: Set(None),
            status: Set("pending".into()),
            expires_at: Set(inv.expires_at),
            created_at: Set(now),
            accepted_at: Set(None),
        }
        .insert(db)
        .await?;
        insert_message(
            db,
            &NewMessage {
                kind: "invitation",
                employee_id: inv.employee_id,
                recipient: inv.recipient.clone(),
                subject_ref: id.to_string(),
            },
            now,
        )
        .await?;
    }
    Ok(())
}

/// Inserts one message on `db`.
pub(crate) async fn insert_message(
    db: &impl ConnectionTrait,
    m: &NewMessage,
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
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
    }
    .insert(db)
    .await?;
    Ok(id)
}

impl Store {
    /// Claims up to `limit` messages that are due (queued and due, or claimed by a sender whose
    /// claim ran out, e.g. a process that crashed) until `claim_until`, except those in `skip`.
    /// A message is claimed by one sender only.
    pub async fn claim_due_messages(
        &self,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
        limit: u64,
        skip: &[Uuid],
    ) -> Result<Vec<OutboxMessage>> {
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
                claimed.push(message_of(row));
            }
        }
        Ok(claimed)
    }

    /// Records that the SMTP server accepted a message.
    pub async fn mark_message_sent(&self, id: Uuid, now: DateTime<Utc>) -> Result<()> {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value("sent"))
            .col_expr(outbox::Column::SentAt, Expr::value(Some(now)))
            .col_expr(
                outbox::Column::Attempts,
                Expr::col(outbox::Column::Attempts).add(1),
            )
            .col_expr(outbox::Column::LastError, Expr::value(None::<String>))
            .filter(outbox::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or `failed` for good when `give_up`.
    pub async fn mark_message_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_at: DateTime<Utc>,
        give_up: bool,
    ) -> Result<()> {
        outbox::Entity::update_many()
            .col_expr(
                outbox::Column::Status,
                Expr::value(if give_up { "failed" } else { "queued" }),
            )
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(retry_at))
            .col_expr(
                outbox::Column::ClaimedUntil,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(
                outbox::Column::Attempts,
                Expr::col(outbox::Column::Attempts).add(1),
            )
            .col_expr(
                outbox::Column::LastError,
                Expr::value(Some(error.to_owned())),
            )
            .filter(outbox::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
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

    /// Every invitation, newest first, with its latest message.
    pub async fn list_invitations(&self) -> Result<Vec<(Invitation, Option<OutboxMessage>)>> {
        let invitations = invitation::Entity::find()
            .order_by_desc(invitation::Column::CreatedAt)
            .all(&self.db)
            .await?;
        let mut out = Vec::with_capacity(invitations.len());
        for inv in invitations {
            let message = outbox::Entity::find()
                .filter(outbox::Column::SubjectRef.eq(inv.id.to_string()))
                .order_by_desc(outbox::Column::CreatedAt)
                .one(&self.db)
                .await?
                .map(message_of);
            out.push((invitation_of(inv), message));
        }
        Ok(out)
    }

    /// One invitation.
    pub async fn invitation(&self, id: Uuid) -> Result<Option<Invitation>> {
        Ok(invitation::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(invitation_of))
    }

    /// The invitation whose current link token hashes to `token_hash`.
    pub async fn invitation_by_token_hash(&self, token_hash: &str) -> Result<Option<Invitation>> {
        Ok(invitation::Entity::find()
            .filter(invitation::Column::TokenHash.eq(token_hash))
            .one(&self.db)
            .await?
            .map(invitation_of))
    }

    /// Gives the invitation a new link token (only its hash is kept; older links stop working).
    pub async fn set_invitation_token(&self, id: Uuid, token_hash: &str) -> Result<()> {
        invitation::Entity::update_many()
            .col_expr(
                invitation::Column::TokenHash,
                Expr::value(Some(token_hash.to_owned())),
            )
            .filter(invitation::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Uses the link: true when it was pending and unexpired, false when it was used, revoked
    /// or expired (then nothing changes).
    pub async fn accept_invitation(&self, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
        let done = invitation::Entity::update_many()
            .col_expr(invitation::Column::Status, Expr::value("accepted"))
            .col_expr(invitation::Column::AcceptedAt, Expr::value(Some(now)))
            .filter(invitation::Column::Id.eq(id))
            .filter(invitation::Column::Status.eq("pending"))
            .filter(invitation::Column::ExpiresAt.gt(now))
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected == 1)
    }

    /// Revokes an invitation and cancels its unsent messages.
    pub async fn revoke_invitation(&self, id: Uuid) -> Result<Invitation> {
        let txn = self.db.begin().await?;
        let updated = invitation::Entity::update_many()
            .col_expr(invitation::Column::Status, Expr::value("revoked"))
            .col_expr(invitation::Column::TokenHash, Expr::value(None::<String>))
            .filter(invitation::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            return Err(Error::NotFound {
                what: "invitation",
                key: id.to_string(),
            });
        }
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value("cancelled"))
            .filter(outbox::Column::SubjectRef.eq(id.to_string()))
            .filter(outbox::Column::Status.is_in(["queued", "failed"]))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        self.invitation(id).await?.ok_or_else(|| Error::NotFound {
            what: "invitation",
            key: id.to_string(),
        })
    }

    /// Queues the invitation again with a new expiry (a new link is made when it is sent).
    pub async fn resend_invitation(
        &self,
        id: Uuid,
        recipient: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Invitation> {
        let txn = self.db.begin().await?;
        let inv = invitation::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "invitation",
                key: id.to_string(),
            })?;
        invitation::Entity::update_many()
            .col_expr(invitation::Column::Status, Expr::value("pending"))
            .col_expr(invitation::Column::ExpiresAt, Expr::value(expires_at))
            .col_expr(invitation::Column::TokenHash, Expr::value(None::<String>))
            .filter(invitation::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value("cancelled"))
            .filter(outbox::Column::SubjectRef.eq(id.to_string()))
            .filter(outbox::Column::Status.is_in(["queued", "failed"]))
            .exec(&txn)
            .await?;
        insert_message(
            &txn,
            &NewMessage {
                kind: "invitation",
                employee_id: EmployeeId::from_uuid(inv.employee_id),
                recipient: recipient.to_owned(),
                subject_ref: id.to_string(),
            },
            now,
        )
        .await?;
        txn.commit().await?;
        self.invitation(id).await?.ok_or_else(|| Error::NotFound {
            what: "invitation",
            key: id.to_string(),
        })
    }
}

fn message_of(r: outbox::Model) -> OutboxMessage {
    OutboxMessage {
        id: r.id,
        kind: r.kind,
        employee_id: EmployeeId::from_uuid(r.employee_id),
        recipient: r.recipient,
        subject_ref: r.subject_ref,
        status: r.status,
        attempts: u32::try_from(r.attempts).unwrap_or(0),
        next_attempt_at: r.next_attempt_at,
        last_error: r.last_error,
        created_at: r.created_at,
        sent_at: r.sent_at,
    }
}

fn invitation_of(r: invitation::Model) -> Invitation {
    Invitation {
        id: r.id,
        employee_id: EmployeeId::from_uuid(r.employee_id),
        status: r.status,
        expires_at: r.expires_at,
        created_at: r.created_at,
        accepted_at: r.accepted_at,
    }
}
