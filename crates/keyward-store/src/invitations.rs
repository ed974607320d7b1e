//! Invitations to enroll, and their links.
//!
//! An invitation may have several links: each time its message is sent, the sender makes a new
//! token and adds its SHA-256 here (the clear token is only in the message). A message sent twice
//! after a crash therefore leaves two working links, and whichever copy the receiver keeps works.
//! Every link of an invitation works until the invitation is accepted (through any of them:
//! acceptance is single use), revoked or expired, or an administrator resends it, which deletes
//! the old links.

use chrono::{DateTime, Utc};
use keyward_model::{EmployeeId, NewAuditRecord};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

use crate::entity::{invitation, invitation_link, outbox};
use crate::outbox::{NewMessage, OutboxMessage, cancel_unsent, hold_claim, insert_message};
use crate::{Error, Result, Store, audit};

/// An invitation to enroll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Id.
    pub id: Uuid,
    /// The employee invited.
    pub employee_id: EmployeeId,
    /// `pending`, `accepted` or `revoked`.
    pub status: String,
    /// The links stop working after this.
    pub expires_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When a link was used.
    pub accepted_at: Option<DateTime<Utc>>,
}

/// An invitation to create, with its first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvitation {
    /// The employee.
    pub employee_id: EmployeeId,
    /// The address.
    pub recipient: String,
    /// When the links expire.
    pub expires_at: DateTime<Utc>,
}

/// What became of an administrator's change to an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationChange {
    /// Done.
    Done,
    /// Refused: the invitation was already accepted, and an accepted invitation stays so.
    AlreadyAccepted,
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

impl Store {
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
                .map(crate::outbox::message_of);
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

    /// The invitation one of whose links has a token hashing to `token_hash`.
    pub async fn invitation_by_token_hash(&self, token_hash: &str) -> Result<Option<Invitation>> {
        let Some(link) = invitation_link::Entity::find_by_id(token_hash.to_owned())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        self.invitation(link.invitation_id).await
    }

    /// Adds a link to the invitation for the message being sent, while its sender still holds
    /// the message (`message_id` claimed until `claimed_until`); false, adding nothing, when
    /// the claim was lost. Holding the claim in the same transaction orders this against a
    /// resend or revoke, which cancel the message: a link is never added after they deleted
    /// the links.
    pub async fn add_invitation_link(
        &self,
        invitation_id: Uuid,
        token_hash: &str,
        message_id: Uuid,
        claimed_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let txn = self.begin_write().await?;
        if !hold_claim(&txn, message_id, claimed_until).await? {
            return Ok(false);
        }
        invitation_link::ActiveModel {
            token_hash: Set(token_hash.to_owned()),
            invitation_id: Set(invitation_id),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Uses the invitation (through any of its links): true when it was pending and unexpired,
    /// false when it was used, revoked or expired (then nothing changes).
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

    /// Revokes an invitation that was not accepted: its links are deleted and its unsent
    /// messages cancelled, with `record` in the same transaction (nothing is recorded when
    /// nothing changed).
    pub async fn revoke_invitation(
        &self,
        id: Uuid,
        record: &NewAuditRecord,
    ) -> Result<InvitationChange> {
        let txn = self.begin_write().await?;
        // The conditional write comes first, so a concurrent accept either wins before it
        // (and the invitation stays accepted) or waits for it.
        let updated = invitation::Entity::update_many()
            .col_expr(invitation::Column::Status, Expr::value("revoked"))
            .filter(invitation::Column::Id.eq(id))
            .filter(invitation::Column::Status.ne("accepted"))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            return refusal(&txn, id).await;
        }
        delete_links(&txn, id).await?;
        cancel_unsent(&txn, &id.to_string()).await?;
        audit::append(&txn, record).await?;
        txn.commit().await?;
        Ok(InvitationChange::Done)
    }

    /// Queues an invitation that was not accepted again with a new expiry: its old links are
    /// deleted (a new one is made when the new message is sent) and its unsent messages
    /// cancelled, with `record` in the same transaction.
    pub async fn resend_invitation(
        &self,
        id: Uuid,
        recipient: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        record: &NewAuditRecord,
    ) -> Result<InvitationChange> {
        let txn = self.begin_write().await?;
        let updated = invitation::Entity::update_many()
            .col_expr(invitation::Column::Status, Expr::value("pending"))
            .col_expr(invitation::Column::ExpiresAt, Expr::value(expires_at))
            .filter(invitation::Column::Id.eq(id))
            .filter(invitation::Column::Status.ne("accepted"))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            return refusal(&txn, id).await;
        }
        let employee_id = invitation::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or_else(|| not_found(id))?
            .employee_id;
        delete_links(&txn, id).await?;
        cancel_unsent(&txn, &id.to_string()).await?;
        insert_message(
            &txn,
            &NewMessage {
                kind: "invitation",
                employee_id: EmployeeId::from_uuid(employee_id),
                recipient: recipient.to_owned(),
                subject_ref: id.to_string(),
            },
            now,
        )
        .await?;
        audit::append(&txn, record).await?;
        txn.commit().await?;
        Ok(InvitationChange::Done)
    }
}

/// Why a conditional write on an invitation changed nothing: it does not exist, or it was
/// accepted.
async fn refusal(db: &impl ConnectionTrait, id: Uuid) -> Result<InvitationChange> {
    match invitation::Entity::find_by_id(id).one(db).await? {
        Some(_) => Ok(InvitationChange::AlreadyAccepted),
        None => Err(not_found(id)),
    }
}

async fn delete_links(db: &impl ConnectionTrait, id: Uuid) -> Result<()> {
    invitation_link::Entity::delete_many()
        .filter(invitation_link::Column::InvitationId.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

fn not_found(id: Uuid) -> Error {
    Error::NotFound {
        what: "invitation",
        key: id.to_string(),
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
