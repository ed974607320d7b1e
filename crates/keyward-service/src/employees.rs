//! Employees: create by hand, show, list.

use chrono::Utc;
use keyward_model::{
    Cursor, DirectoryAccount, DisplayName, Email, Employee, EmployeeId, NewAuditRecord,
    NewEmployee, Page, PageRequest,
};
use keyward_store::Store;

use crate::{Actor, Error, Result};

/// Employee operations.
#[derive(Debug, Clone, Copy)]
pub struct Employees<'a> {
    store: &'a Store,
}

impl<'a> Employees<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        Self { store }
    }

    /// Creates an employee for a person in no directory. The e-mail is required and unique, so
    /// that a later sync that finds the same address links to this employee instead of making
    /// a second one.
    pub async fn create(&self, email: &str, display_name: &str, actor: &Actor) -> Result<Employee> {
        let new = NewEmployee {
            email: Email::parse(email)?,
            display_name: DisplayName::parse(display_name)?,
        };
        let now = Utc::now();
        let record = NewAuditRecord {
            actor: actor.to_string(),
            action: "employee.created".into(),
            subject: String::new(),
            detail: serde_json::json!({
                "email": new.email.as_str(),
                "display_name": new.display_name.as_str(),
                "origin": "manual",
            }),
            at: now,
        };
        Ok(self.store.create_employee(&new, now, &record).await?)
    }

    /// The employee named by id or by e-mail address.
    pub async fn find(&self, id_or_email: &str) -> Result<Employee> {
        let found = if let Ok(id) = id_or_email.parse::<EmployeeId>() {
            self.store.employee(id).await?
        } else if let Ok(email) = Email::parse(id_or_email) {
            self.store.employee_by_email(&email).await?
        } else {
            return Err(Error::InvalidInput(format!(
                "{id_or_email:?} is neither an employee id nor an e-mail address"
            )));
        };
        found.ok_or_else(|| Error::NotFound {
            what: "employee",
            key: id_or_email.to_owned(),
        })
    }

    /// The employee with this id.
    pub async fn get(&self, id: EmployeeId) -> Result<Employee> {
        self.store
            .employee(id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "employee",
                key: id.to_string(),
            })
    }

    /// The directory accounts of an employee.
    pub async fn accounts(&self, id: EmployeeId) -> Result<Vec<DirectoryAccount>> {
        Ok(self.store.accounts_of(id).await?)
    }

    /// The accounts of each employee of a page (one query for the whole page).
    pub async fn accounts_of_page(
        &self,
        employees: &[Employee],
    ) -> Result<std::collections::HashMap<EmployeeId, Vec<DirectoryAccount>>> {
        let ids: Vec<EmployeeId> = employees.iter().map(|e| e.id).collect();
        Ok(self.store.accounts_of_many(&ids).await?)
    }

    /// One page of the employees that match `filter`, in creation order.
    pub async fn search(
        &self,
        filter: &keyward_store::EmployeeFilter,
        after: Option<String>,
        limit: Option<u32>,
    ) -> Result<Page<Employee>> {
        let request = PageRequest::new(after.map(Cursor::new), limit)?;
        Ok(self.store.search_employees(filter, &request).await?)
    }

    /// One page of employees in creation order.
    pub async fn list(&self, after: Option<String>, limit: Option<u32>) -> Result<Page<Employee>> {
        let request = PageRequest::new(after.map(Cursor::new), limit)?;
        Ok(self.store.list_employees(&request).await?)
    }
}
