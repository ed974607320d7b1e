//! Counts for the console's dashboard (and metrics): one `GROUP BY` per table.

use std::collections::BTreeMap;

use sea_orm::{
    ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect, sea_query::Expr,
};

use crate::entity::{employee, key, outbox, workstation};
use crate::{Result, Store};

/// How many of each, by the stored status encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    /// Every employee.
    pub employees: u64,
    /// Employees whose origin is a directory.
    pub employees_from_directory: u64,
    /// Keys by status (`ready`, `active`, …).
    pub keys: BTreeMap<String, u64>,
    /// Workstations by status (`pending`, `approved`, `revoked`).
    pub workstations: BTreeMap<String, u64>,
    /// Outbox messages by status (`queued`, `sending`, `sent`, `failed`, `cancelled`).
    pub outbox: BTreeMap<String, u64>,
}

#[derive(FromQueryResult)]
struct ByStatus {
    status: String,
    n: i64,
}

impl Store {
    /// The counts the dashboard shows.
    pub async fn overview(&self) -> Result<Overview> {
        let employees = count_by::<employee::Entity>(&self.db, employee::Column::Origin).await?;
        let from_directory = employees
            .iter()
            .filter(|(origin, _)| origin.as_str() != "manual")
            .map(|(_, n)| n)
            .sum();
        Ok(Overview {
            employees: employees.values().sum(),
            employees_from_directory: from_directory,
            keys: count_by::<key::Entity>(&self.db, key::Column::Status).await?,
            workstations: count_by::<workstation::Entity>(&self.db, workstation::Column::Status)
                .await?,
            outbox: count_by::<outbox::Entity>(&self.db, outbox::Column::Status).await?,
        })
    }
}

async fn count_by<E: EntityTrait>(
    db: &sea_orm::DatabaseConnection,
    column: E::Column,
) -> Result<BTreeMap<String, u64>> {
    let rows = E::find()
        .select_only()
        .column_as(column, "status")
        .column_as(Expr::cust("COUNT(*)"), "n")
        .group_by(column)
        .filter(column.is_not_null())
        .into_model::<ByStatus>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.status, u64::try_from(r.n).unwrap_or(0)))
        .collect())
}
