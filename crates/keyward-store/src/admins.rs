//! Console administrators, their WebAuthn credentials, enrollment links, sessions and the
//! ceremonies in flight. Secrets (enrollment links, session cookies) are stored only as hashes
//! computed by the caller; a credential's passkey record holds a public key and a counter.

use chrono::{DateTime, Utc};
use keyward_model::{Admin, AdminCredential, Email, NewAuditRecord};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, sea_query::Expr,
};
use uuid::Uuid;

use crate::entity::{admin, admin_credential, admin_enrollment, admin_session, webauthn_ceremony};
use crate::{Error, Result, Store, audit};

/// An enrollment link to store with a new admin or for an existing one.
#[derive(Debug, Clone)]
pub struct NewEnrollment<'a> {
    /// SHA-256 of the link's secret, as the caller computed it.
    pub token_hash: &'a str,
    /// Now.
    pub created_at: DateTime<Utc>,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

/// A stored enrollment link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEnrollment {
    /// The admin it enrolls a credential for.
    pub admin_id: Uuid,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was used; a link is used once.
    pub used_at: Option<DateTime<Utc>>,
}

/// A registered credential with its relying-party record (public key and counter, as JSON).
#[derive(Debug, Clone)]
pub struct StoredCredential {
    /// What the console shows.
    pub credential: AdminCredential,
    /// The relying-party record; not secret.
    pub passkey: String,
}

/// A session to store.
#[derive(Debug, Clone)]
pub struct NewAdminSession<'a> {
    /// SHA-256 of the cookie's secret.
    pub id_hash: &'a str,
    /// Who signed in.
    pub admin_id: Uuid,
    /// The token every state-changing console request must carry.
    pub csrf_token: &'a str,
    /// Now.
    pub created_at: DateTime<Utc>,
    /// The absolute expiry.
    pub expires_at: DateTime<Utc>,
}

/// A stored session with its admin.
#[derive(Debug, Clone)]
pub struct AdminSession {
    /// Who is signed in.
    pub admin: Admin,
    /// The session's CSRF token.
    pub csrf_token: String,
    /// When the admin signed in.
    pub created_at: DateTime<Utc>,
    /// The last request of the session (refreshed at most once a minute).
    pub last_seen_at: DateTime<Utc>,
    /// The absolute expiry.
    pub expires_at: DateTime<Utc>,
}

/// The server half of a WebAuthn ceremony, taken by the request that finishes it.
#[derive(Debug, Clone)]
pub struct StoredCeremony {
    /// The admin the ceremony is for.
    pub admin_id: Uuid,
    /// The relying party's state (the challenge), as JSON.
    pub state: String,
    /// When the challenge stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Stores a new admin with an enrollment link and the audit record, in one transaction. An
    /// e-mail in use is [`Error::Conflict`].
    pub async fn create_admin(
        &self,
        new: &Admin,
        enrollment: &NewEnrollment<'_>,
        audit_record: &NewAuditRecord,
    ) -> Result<Admin> {
        let txn = self.begin_write().await?;
        let row = admin::ActiveModel {
            id: Set(new.id),
            email: Set(new.email.as_str().to_owned()),
            name: Set(new.name.clone()),
            created_at: Set(new.created_at),
            disabled_at: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(|e| Error::from_write(e, "admin with e-mail", new.email.as_str()))?;
        insert_enrollment(&txn, new.id, enrollment).await?;
        audit::append(&txn, audit_record).await?;
        txn.commit().await?;
        admin_model(&row)
    }

    /// Stores another enrollment link for an admin, with its audit record.
    pub async fn add_admin_enrollment(
        &self,
        admin_id: Uuid,
        enrollment: &NewEnrollment<'_>,
        audit_record: &NewAuditRecord,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        insert_enrollment(&txn, admin_id, enrollment).await?;
        audit::append(&txn, audit_record).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Every admin, by e-mail.
    pub async fn list_admins(&self) -> Result<Vec<Admin>> {
        admin::Entity::find()
            .order_by_asc(admin::Column::Email)
            .all(&self.db)
            .await?
            .iter()
            .map(admin_model)
            .collect()
    }

    /// The admin with this e-mail.
    pub async fn admin_by_email(&self, email: &Email) -> Result<Option<Admin>> {
        admin::Entity::find()
            .filter(admin::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await?
            .as_ref()
            .map(admin_model)
            .transpose()
    }

    /// The admin with this id.
    pub async fn admin(&self, id: Uuid) -> Result<Option<Admin>> {
        admin::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .as_ref()
            .map(admin_model)
            .transpose()
    }

    /// Disables the admin with this e-mail, ends their sessions and voids their unused
    /// enrollment links and ceremonies, with the audit record. Disabling a disabled admin
    /// changes nothing and returns it.
    pub async fn disable_admin(
        &self,
        email: &Email,
        now: DateTime<Utc>,
        audit_record: &NewAuditRecord,
    ) -> Result<Admin> {
        let txn = self.begin_write().await?;
        let row = admin::Entity::find()
            .filter(admin::Column::Email.eq(email.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "admin with e-mail",
                key: email.as_str().to_owned(),
            })?;
        if row.disabled_at.is_some() {
            return admin_model(&row);
        }
        admin::Entity::update_many()
            .col_expr(admin::Column::DisabledAt, Expr::value(now))
            .filter(admin::Column::Id.eq(row.id))
            .exec(&txn)
            .await?;
        admin_session::Entity::delete_many()
            .filter(admin_session::Column::AdminId.eq(row.id))
            .exec(&txn)
            .await?;
        admin_enrollment::Entity::update_many()
            .col_expr(admin_enrollment::Column::UsedAt, Expr::value(now))
            .filter(admin_enrollment::Column::AdminId.eq(row.id))
            .filter(admin_enrollment::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        webauthn_ceremony::Entity::delete_many()
            .filter(webauthn_ceremony::Column::AdminId.eq(row.id))
            .exec(&txn)
            .await?;
        audit::append(&txn, audit_record).await?;
        txn.commit().await?;
        let mut admin = admin_model(&row)?;
        admin.disabled_at = Some(now);
        Ok(admin)
    }

    /// The enrollment link with this hash.
    pub async fn admin_enrollment(&self, token_hash: &str) -> Result<Option<StoredEnrollment>> {
        Ok(admin_enrollment::Entity::find_by_id(token_hash.to_owned())
            .one(&self.db)
            .await?
            .map(|row| StoredEnrollment {
                admin_id: row.admin_id,
                expires_at: row.expires_at,
                used_at: row.used_at,
            }))
    }

    /// Stores the server half of a ceremony.
    pub async fn save_ceremony(
        &self,
        id: Uuid,
        purpose: &str,
        ceremony: &StoredCeremony,
    ) -> Result<()> {
        webauthn_ceremony::ActiveModel {
            id: Set(id),
            purpose: Set(purpose.to_owned()),
            admin_id: Set(ceremony.admin_id),
            state: Set(ceremony.state.clone()),
            expires_at: Set(ceremony.expires_at),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Takes (reads and deletes) a ceremony of this purpose: of two requests that finish the
    /// same ceremony, one gets it and the other `None`. Expired ceremonies are deleted on the
    /// way.
    pub async fn take_ceremony(
        &self,
        id: Uuid,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredCeremony>> {
        webauthn_ceremony::Entity::delete_many()
            .filter(webauthn_ceremony::Column::ExpiresAt.lt(now))
            .exec(&self.db)
            .await?;
        let Some(row) = webauthn_ceremony::Entity::find_by_id(id)
            .filter(webauthn_ceremony::Column::Purpose.eq(purpose))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let deleted = webauthn_ceremony::Entity::delete_many()
            .filter(webauthn_ceremony::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok((deleted.rows_affected == 1).then_some(StoredCeremony {
            admin_id: row.admin_id,
            state: row.state,
            expires_at: row.expires_at,
        }))
    }

    /// Stores a newly registered credential with its audit record; when it was registered
    /// through an enrollment link, uses the link in the same transaction (a link already used
    /// is [`Error::Conflict`] and nothing is stored).
    pub async fn add_admin_credential(
        &self,
        credential: &StoredCredential,
        enrollment_hash: Option<&str>,
        audit_record: &NewAuditRecord,
    ) -> Result<AdminCredential> {
        let txn = self.begin_write().await?;
        if let Some(hash) = enrollment_hash {
            let used = admin_enrollment::Entity::update_many()
                .col_expr(
                    admin_enrollment::Column::UsedAt,
                    Expr::value(credential.credential.created_at),
                )
                .filter(admin_enrollment::Column::TokenHash.eq(hash))
                .filter(admin_enrollment::Column::UsedAt.is_null())
                .exec(&txn)
                .await?;
            if used.rows_affected != 1 {
                return Err(Error::Conflict {
                    what: "enrollment link",
                    key: "already used".into(),
                });
            }
        }
        let c = &credential.credential;
        let row = admin_credential::ActiveModel {
            credential_id: Set(c.credential_id.clone()),
            admin_id: Set(c.admin_id),
            label: Set(c.label.clone()),
            passkey: Set(credential.passkey.clone()),
            created_at: Set(c.created_at),
            last_used_at: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(|e| Error::from_write(e, "credential", c.credential_id.clone()))?;
        audit::append(&txn, audit_record).await?;
        txn.commit().await?;
        Ok(credential_model(&row))
    }

    /// An admin's credentials, oldest first, with their relying-party records.
    pub async fn admin_credentials(&self, admin_id: Uuid) -> Result<Vec<StoredCredential>> {
        Ok(admin_credential::Entity::find()
            .filter(admin_credential::Column::AdminId.eq(admin_id))
            .order_by_asc(admin_credential::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| StoredCredential {
                credential: credential_model(&row),
                passkey: row.passkey,
            })
            .collect())
    }

    /// Records a sign-in with a credential: its updated record (counter) and the time.
    pub async fn record_credential_use(
        &self,
        credential_id: &str,
        passkey: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        admin_credential::Entity::update_many()
            .col_expr(admin_credential::Column::Passkey, Expr::value(passkey))
            .col_expr(admin_credential::Column::LastUsedAt, Expr::value(now))
            .filter(admin_credential::Column::CredentialId.eq(credential_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Stores a new session with the sign-in's audit record; expired sessions are deleted on
    /// the way.
    pub async fn create_admin_session(
        &self,
        new: &NewAdminSession<'_>,
        audit_record: &NewAuditRecord,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        admin_session::Entity::delete_many()
            .filter(admin_session::Column::ExpiresAt.lt(new.created_at))
            .exec(&txn)
            .await?;
        admin_session::ActiveModel {
            id_hash: Set(new.id_hash.to_owned()),
            admin_id: Set(new.admin_id),
            csrf_token: Set(new.csrf_token.to_owned()),
            created_at: Set(new.created_at),
            last_seen_at: Set(new.created_at),
            expires_at: Set(new.expires_at),
        }
        .insert(&txn)
        .await?;
        audit::append(&txn, audit_record).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The session with this hash and its admin.
    pub async fn admin_session(&self, id_hash: &str) -> Result<Option<AdminSession>> {
        let Some(row) = admin_session::Entity::find_by_id(id_hash.to_owned())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let Some(admin) = self.admin(row.admin_id).await? else {
            return Err(Error::corrupt(
                "admin_sessions",
                &row.admin_id,
                &"the session's admin does not exist",
            ));
        };
        Ok(Some(AdminSession {
            admin,
            csrf_token: row.csrf_token,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
        }))
    }

    /// Records activity on a session.
    pub async fn touch_admin_session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<()> {
        admin_session::Entity::update_many()
            .col_expr(admin_session::Column::LastSeenAt, Expr::value(now))
            .filter(admin_session::Column::IdHash.eq(id_hash))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Ends a session, with the audit record when one is given (sign-out). Ending a session
    /// that does not exist changes nothing.
    pub async fn end_admin_session(
        &self,
        id_hash: &str,
        audit_record: Option<&NewAuditRecord>,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        let deleted = admin_session::Entity::delete_many()
            .filter(admin_session::Column::IdHash.eq(id_hash))
            .exec(&txn)
            .await?;
        if deleted.rows_affected > 0
            && let Some(record) = audit_record
        {
            audit::append(&txn, record).await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

async fn insert_enrollment(
    db: &impl ConnectionTrait,
    admin_id: Uuid,
    enrollment: &NewEnrollment<'_>,
) -> Result<()> {
    admin_enrollment::ActiveModel {
        token_hash: Set(enrollment.token_hash.to_owned()),
        admin_id: Set(admin_id),
        created_at: Set(enrollment.created_at),
        expires_at: Set(enrollment.expires_at),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

fn admin_model(row: &admin::Model) -> Result<Admin> {
    Ok(Admin {
        id: row.id,
        email: Email::parse(&row.email).map_err(|e| Error::corrupt("admins", &row.id, &e))?,
        name: row.name.clone(),
        created_at: row.created_at,
        disabled_at: row.disabled_at,
    })
}

fn credential_model(row: &admin_credential::Model) -> AdminCredential {
    AdminCredential {
        credential_id: row.credential_id.clone(),
        admin_id: row.admin_id,
        label: row.label.clone(),
        created_at: row.created_at,
        last_used_at: row.last_used_at,
    }
}
