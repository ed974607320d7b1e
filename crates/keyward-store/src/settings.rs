//! Installation-wide settings kept in the database (for example the key-check value).

use sea_orm::{ActiveValue::Set, EntityTrait};

use crate::entity::setting;
use crate::{Result, Store};

impl Store {
    /// The value stored under `key`, if any.
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(setting::Entity::find_by_id(key.to_owned())
            .one(&self.db)
            .await?
            .map(|row| row.value))
    }

    /// Stores `value` under `key` unless a value is already there; returns the value that is
    /// stored afterwards (the existing one wins, so concurrent first starts agree).
    pub async fn setting_insert_if_absent(&self, key: &str, value: &str) -> Result<String> {
        let row = setting::ActiveModel {
            key: Set(key.to_owned()),
            value: Set(value.to_owned()),
        };
        setting::Entity::insert(row)
            .on_conflict_do_nothing_on([setting::Column::Key])
            .exec(&self.db)
            .await?;
        self.setting(key)
            .await?
            .ok_or_else(|| crate::Error::corrupt("settings", &key, &"vanished after insert"))
    }

    /// Deletes the value under `key`, if any.
    pub async fn delete_setting(&self, key: &str) -> Result<()> {
        setting::Entity::delete_by_id(key.to_owned())
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
