use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "account_passwords")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub directory: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub object_guid: Uuid,
    pub key_serial: Option<String>,
    pub version: i64,
    pub sealed_current: Option<String>,
    pub committed_at: Option<DateTimeUtc>,
    pub state: String,
    pub pending_version: Option<i64>,
    pub sealed_pending: Option<String>,
    pub method: Option<String>,
    pub reason: Option<String>,
    pub requested_by: Option<String>,
    pub requested_at: Option<DateTimeUtc>,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub claimed_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub row_version: i64,
    pub pinned_url: Option<String>,
    pub pinned_host: Option<String>,
    pub last_commit_url: Option<String>,
    pub last_commit_host: Option<String>,
    pub last_commit_password_version: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
