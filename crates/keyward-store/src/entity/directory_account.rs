use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "directory_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub directory: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub object_guid: Uuid,
    pub employee_id: Uuid,
    pub dn: String,
    pub sam_account_name: Option<String>,
    pub user_principal_name: Option<String>,
    pub mail: Option<String>,
    pub display_name: Option<String>,
    pub enabled: bool,
    pub in_rotation_group: bool,
    pub usn_changed: i64,
    pub last_seen_at: DateTimeUtc,
    pub missing_since: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
