//! Directory accounts: one user object of one directory, keyed by `(directory, objectGUID)`.

use keyward_model::{DirectoryAccount, DirectoryName, Email, EmployeeId};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};

use crate::entity::directory_account;
use crate::{Error, Result, Store};

impl Store {
    /// The directory accounts of several employees at once (one query), grouped by employee.
    pub async fn accounts_of_many(
        &self,
        ids: &[EmployeeId],
    ) -> Result<std::collections::HashMap<EmployeeId, Vec<DirectoryAccount>>> {
        let mut grouped: std::collections::HashMap<EmployeeId, Vec<DirectoryAccount>> =
            std::collections::HashMap::new();
        if ids.is_empty() {
            return Ok(grouped);
        }
        let rows = directory_account::Entity::find()
            .filter(
                directory_account::Column::EmployeeId.is_in(ids.iter().map(EmployeeId::as_uuid)),
            )
            .order_by_asc(directory_account::Column::Directory)
            .order_by_asc(directory_account::Column::ObjectGuid)
            .all(&self.db)
            .await?;
        for row in rows {
            let account = account_to_model(row)?;
            grouped
                .entry(account.employee_id)
                .or_default()
                .push(account);
        }
        Ok(grouped)
    }

    /// One directory account.
    pub async fn account(
        &self,
        directory: &str,
        object_guid: uuid::Uuid,
    ) -> Result<Option<DirectoryAccount>> {
        directory_account::Entity::find_by_id((directory.to_owned(), object_guid))
            .one(&self.db)
            .await?
            .map(account_to_model)
            .transpose()
    }

    /// The directory accounts of an employee, by directory then objectGUID.
    pub async fn accounts_of(&self, id: EmployeeId) -> Result<Vec<DirectoryAccount>> {
        let rows = directory_account::Entity::find()
            .filter(directory_account::Column::EmployeeId.eq(id.as_uuid()))
            .order_by_asc(directory_account::Column::Directory)
            .order_by_asc(directory_account::Column::ObjectGuid)
            .all(&self.db)
            .await?;
        rows.into_iter().map(account_to_model).collect()
    }

    /// Inserts the account, or updates every field of the stored one with the same
    /// `(directory, object_guid)`.
    pub async fn upsert_account(&self, account: &DirectoryAccount) -> Result<()> {
        let key = (account.directory.as_str().to_owned(), account.object_guid);
        let row = directory_account::ActiveModel {
            directory: Set(key.0.clone()),
            object_guid: Set(key.1),
            employee_id: Set(account.employee_id.as_uuid()),
            dn: Set(account.dn.clone()),
            sam_account_name: Set(account.sam_account_name.clone()),
            user_principal_name: Set(account.user_principal_name.clone()),
            mail: Set(account.mail.as_ref().map(|m| m.as_str().to_owned())),
            display_name: Set(account.display_name.clone()),
            enabled: Set(account.enabled),
            in_rotation_group: Set(account.in_rotation_group),
            usn_changed: Set(account.usn_changed),
            last_seen_at: Set(account.last_seen_at),
            missing_since: Set(account.missing_since),
        };
        let exists = directory_account::Entity::find_by_id(key.clone())
            .one(&self.db)
            .await?
            .is_some();
        if exists {
            row.update(&self.db).await?;
        } else {
            row.insert(&self.db).await.map_err(|e| {
                Error::from_write(e, "directory account", format!("{}/{}", key.0, key.1))
            })?;
        }
        Ok(())
    }
}

pub(crate) fn account_to_model(row: directory_account::Model) -> Result<DirectoryAccount> {
    let key = format!("{}/{}", row.directory, row.object_guid);
    let corrupt = |e: keyward_model::Error| Error::corrupt("directory_accounts", &key, &e);
    Ok(DirectoryAccount {
        directory: DirectoryName::parse(&row.directory).map_err(corrupt)?,
        object_guid: row.object_guid,
        employee_id: EmployeeId::from_uuid(row.employee_id),
        dn: row.dn,
        sam_account_name: row.sam_account_name,
        user_principal_name: row.user_principal_name,
        mail: row
            .mail
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(corrupt)?,
        display_name: row.display_name,
        enabled: row.enabled,
        in_rotation_group: row.in_rotation_group,
        usn_changed: row.usn_changed,
        last_seen_at: row.last_seen_at,
        missing_since: row.missing_since,
    })
}
