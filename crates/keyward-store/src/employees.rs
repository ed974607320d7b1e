//! Employees and the directory accounts that belong to them.

use chrono::{DateTime, Utc};
use keyward_model::{
    Cursor, DisplayName, Email, Employee, EmployeeId, EmployeeOrigin, EmployeeStatus,
    NewAuditRecord, NewEmployee, Page, PageRequest,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::entity::{directory_account, employee, key};
use crate::{Error, Result, Store, audit};

impl Store {
    /// Creates an employee by hand, with its audit record, in one transaction.
    /// A second employee with the same e-mail is [`Error::Conflict`].
    pub async fn create_employee(
        &self,
        new: &NewEmployee,
        now: DateTime<Utc>,
        audit_record: &NewAuditRecord,
    ) -> Result<Employee> {
        let id = EmployeeId::new_v7();
        let txn = self.begin_write().await?;
        let row = employee::ActiveModel {
            id: Set(id.as_uuid()),
            email: Set(Some(new.email.as_str().to_owned())),
            display_name: Set(new.display_name.as_str().to_owned()),
            status: Set(EmployeeStatus::Active.as_str().to_owned()),
            origin: Set(EmployeeOrigin::Manual.as_str().to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| Error::from_write(e, "employee with e-mail", new.email.as_str()))?;
        let mut record = audit_record.clone();
        record.subject = format!("employee:{id}");
        audit::append(&txn, &record).await?;
        txn.commit().await?;
        to_model(&row)
    }

    /// The employee with this id, if any.
    pub async fn employee(&self, id: EmployeeId) -> Result<Option<Employee>> {
        employee::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await?
            .as_ref()
            .map(to_model)
            .transpose()
    }

    /// The employee with this normalized e-mail, if any.
    pub async fn employee_by_email(&self, email: &Email) -> Result<Option<Employee>> {
        employee::Entity::find()
            .filter(employee::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await?
            .as_ref()
            .map(to_model)
            .transpose()
    }

    /// The employees with these ids (those that exist), in id order.
    pub async fn employees_by_ids(&self, ids: &[EmployeeId]) -> Result<Vec<Employee>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(crate::ID_LIST_CHUNK) {
            let rows = employee::Entity::find()
                .filter(employee::Column::Id.is_in(chunk.iter().map(EmployeeId::as_uuid)))
                .order_by_asc(employee::Column::Id)
                .all(&self.db)
                .await?;
            for row in &rows {
                out.push(to_model(row)?);
            }
        }
        Ok(out)
    }

    /// One page of employees in id order (which is creation order for v7 ids).
    pub async fn list_employees(&self, page: &PageRequest) -> Result<Page<Employee>> {
        self.search_employees(&EmployeeFilter::default(), page)
            .await
    }
}

/// Which employees [`Store::search_employees`] returns; every part given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmployeeFilter {
    /// Part of the e-mail or the display name, any case.
    pub text: Option<String>,
    /// Has an account in this directory.
    pub directory: Option<String>,
    /// In this status (`active`, `disabled`, …, the stored encoding).
    pub status: Option<String>,
    /// `Some(true)`: holds a key (any status); `Some(false)`: holds none.
    pub has_key: Option<bool>,
}

impl Store {
    /// One page of the employees that match `filter`, in id order.
    pub async fn search_employees(
        &self,
        filter: &EmployeeFilter,
        page: &PageRequest,
    ) -> Result<Page<Employee>> {
        use sea_orm::sea_query::{Expr, ExprTrait as _, Func, Query};
        let mut query = employee::Entity::find().order_by_asc(employee::Column::Id);
        if let Some(cursor) = &page.after {
            let after: EmployeeId = cursor.as_str().parse().map_err(|_| Error::InvalidCursor {
                cursor: cursor.as_str().to_owned(),
            })?;
            query = query.filter(employee::Column::Id.gt(after.as_uuid()));
        }
        if let Some(text) = filter
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let pattern = format!("%{}%", text.to_lowercase().replace(['%', '_'], ""));
            query = query.filter(
                sea_orm::Condition::any()
                    .add(
                        Expr::expr(Func::lower(Expr::col(employee::Column::Email)))
                            .like(pattern.as_str()),
                    )
                    .add(
                        Expr::expr(Func::lower(Expr::col(employee::Column::DisplayName)))
                            .like(pattern.as_str()),
                    ),
            );
        }
        if let Some(status) = &filter.status {
            query = query.filter(employee::Column::Status.eq(status.as_str()));
        }
        if let Some(directory) = &filter.directory {
            query = query.filter(
                employee::Column::Id.in_subquery(
                    Query::select()
                        .column(directory_account::Column::EmployeeId)
                        .from(directory_account::Entity)
                        .and_where(directory_account::Column::Directory.eq(directory.as_str()))
                        .to_owned(),
                ),
            );
        }
        if let Some(has_key) = filter.has_key {
            let holders = Query::select()
                .column(key::Column::EmployeeId)
                .from(key::Entity)
                .and_where(key::Column::EmployeeId.is_not_null())
                .to_owned();
            query = query.filter(if has_key {
                employee::Column::Id.in_subquery(holders)
            } else {
                employee::Column::Id.not_in_subquery(holders)
            });
        }
        let mut rows = query.limit(u64::from(page.limit) + 1).all(&self.db).await?;
        let has_more = rows.len() > page.limit as usize;
        rows.truncate(page.limit as usize);
        let items = rows.iter().map(to_model).collect::<Result<Vec<_>>>()?;
        let next_cursor = if has_more {
            items.last().map(|e| Cursor::new(e.id.to_string()))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}

pub(crate) fn to_model(row: &employee::Model) -> Result<Employee> {
    let corrupt = |e: keyward_model::Error| Error::corrupt("employees", &row.id, &e);
    Ok(Employee {
        id: EmployeeId::from_uuid(row.id),
        email: row
            .email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(corrupt)?,
        display_name: DisplayName::parse(&row.display_name).map_err(corrupt)?,
        status: row.status.parse().map_err(corrupt)?,
        origin: row.origin.parse().map_err(corrupt)?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
