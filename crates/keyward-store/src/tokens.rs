//! Administrator API tokens: metadata and the hash of the secret half.

use chrono::{DateTime, Utc};
use keyward_model::{ApiToken, ApiTokenId, NewAuditRecord, Scopes, TokenName};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder,
};

use crate::entity::api_token;
use crate::{Error, Result, Store, audit};

/// A token as the verifier needs it: metadata plus the stored hash of its secret.
#[derive(Debug, Clone)]
pub struct StoredToken {
    /// Public metadata.
    pub token: ApiToken,
    /// The hash of the secret half, as the caller computed it at creation.
    pub secret_hash: String,
}

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewApiToken<'a> {
    /// Its id, the public half of the token string.
    pub id: ApiTokenId,
    /// Its unique name.
    pub name: &'a TokenName,
    /// The hash of the secret half, as the caller computed it.
    pub secret_hash: &'a str,
    /// What it may do.
    pub scopes: &'a Scopes,
    /// When it stops working; `None`: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Now.
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Stores a new token with its audit record in one transaction. A name in use is
    /// [`Error::Conflict`], revoked tokens included, so that audit entries (which name the
    /// token) stay unambiguous.
    pub async fn create_api_token(
        &self,
        new: &NewApiToken<'_>,
        audit_record: &NewAuditRecord,
    ) -> Result<ApiToken> {
        let txn = self.begin_write().await?;
        let row = api_token::ActiveModel {
            id: Set(new.id.as_uuid()),
            name: Set(new.name.as_str().to_owned()),
            secret_hash: Set(new.secret_hash.to_owned()),
            created_at: Set(new.created_at),
            last_used_at: Set(None),
            revoked_at: Set(None),
            scopes: Set(new.scopes.to_string()),
            expires_at: Set(new.expires_at),
        }
        .insert(&txn)
        .await
        .map_err(|e| Error::from_write(e, "API token named", new.name.as_str()))?;
        audit::append(&txn, audit_record).await?;
        txn.commit().await?;
        to_model(&row)
    }

    /// Every token, newest first, revoked ones included.
    pub async fn list_api_tokens(&self) -> Result<Vec<ApiToken>> {
        api_token::Entity::find()
            .order_by_desc(api_token::Column::Id)
            .all(&self.db)
            .await?
            .iter()
            .map(to_model)
            .collect()
    }

    /// The token with this id and its secret hash, for verification.
    pub async fn api_token_for_verification(&self, id: ApiTokenId) -> Result<Option<StoredToken>> {
        let Some(row) = api_token::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let secret_hash = row.secret_hash.clone();
        Ok(Some(StoredToken {
            token: to_model(&row)?,
            secret_hash,
        }))
    }

    /// Records that the token authenticated a request at `now`.
    pub async fn touch_api_token(&self, id: ApiTokenId, now: DateTime<Utc>) -> Result<()> {
        api_token::Entity::update_many()
            .col_expr(
                api_token::Column::LastUsedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(api_token::Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Revokes the token named `name` with its audit record. Revoking a revoked token changes
    /// nothing and returns it as it is.
    pub async fn revoke_api_token(
        &self,
        name: &TokenName,
        now: DateTime<Utc>,
        audit_record: &NewAuditRecord,
    ) -> Result<ApiToken> {
        let txn = self.begin_write().await?;
        let row = api_token::Entity::find()
            .filter(api_token::Column::Name.eq(name.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "API token named",
                key: name.as_str().to_owned(),
            })?;
        if row.revoked_at.is_some() {
            return to_model(&row);
        }
        let mut active = row.into_active_model();
        active.revoked_at = Set(Some(now));
        let row = active.update(&txn).await?;
        audit::append(&txn, audit_record).await?;
        txn.commit().await?;
        to_model(&row)
    }
}

fn to_model(row: &api_token::Model) -> Result<ApiToken> {
    let corrupt = |e: keyward_model::Error| Error::corrupt("api_tokens", &row.id, &e);
    Ok(ApiToken {
        id: ApiTokenId::from_uuid(row.id),
        name: TokenName::parse(&row.name).map_err(corrupt)?,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
        scopes: Scopes::parse_list(&row.scopes).map_err(corrupt)?,
        expires_at: row.expires_at,
    })
}
