//! `/api/v1/employees`.

use chrono::{DateTime, Utc};
use keyward_model::{DirectoryAccount, Employee};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An employee.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmployeeDto {
    /// Stable id.
    pub id: Uuid,
    /// Normalized e-mail address; absent for a directory account without mail.
    pub email: Option<String>,
    /// Display name.
    pub display_name: String,
    /// `active` or `disabled`.
    pub status: String,
    /// `manual` or `directory`.
    pub origin: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<Employee> for EmployeeDto {
    fn from(e: Employee) -> Self {
        Self {
            id: e.id.as_uuid(),
            email: e.email.map(|m| m.as_str().to_owned()),
            display_name: e.display_name.as_str().to_owned(),
            status: e.status.as_str().to_owned(),
            origin: e.origin.as_str().to_owned(),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// A directory account of an employee.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountDto {
    /// Directory name.
    pub directory: String,
    /// AD objectGUID.
    pub object_guid: Uuid,
    /// Distinguished name at the last sync.
    pub dn: String,
    /// sAMAccountName.
    pub sam_account_name: Option<String>,
    /// userPrincipalName.
    pub user_principal_name: Option<String>,
    /// Whether the AD account is enabled.
    pub enabled: bool,
    /// Member (transitively) of the directory's password rotation group.
    pub in_rotation_group: bool,
    /// Since when the account is out of scope, if it is.
    pub missing_since: Option<DateTime<Utc>>,
}

impl From<DirectoryAccount> for AccountDto {
    fn from(a: DirectoryAccount) -> Self {
        Self {
            directory: a.directory.as_str().to_owned(),
            object_guid: a.object_guid,
            dn: a.dn,
            sam_account_name: a.sam_account_name,
            user_principal_name: a.user_principal_name,
            enabled: a.enabled,
            in_rotation_group: a.in_rotation_group,
            missing_since: a.missing_since,
        }
    }
}

/// An employee with its directory accounts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmployeeDetailDto {
    /// The employee.
    #[serde(flatten)]
    pub employee: EmployeeDto,
    /// Its directory accounts.
    pub accounts: Vec<AccountDto>,
}

impl EmployeeDetailDto {
    /// An employee and its accounts.
    pub fn new(employee: Employee, accounts: Vec<DirectoryAccount>) -> Self {
        Self {
            employee: employee.into(),
            accounts: accounts.into_iter().map(AccountDto::from).collect(),
        }
    }
}

/// One page of employees.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmployeePage {
    /// The employees, in creation order, each with its directory accounts.
    pub items: Vec<EmployeeDetailDto>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl EmployeePage {
    /// A page of employees with their accounts (as `Employees::accounts_of_page` gives them).
    pub fn new(
        page: keyward_model::Page<Employee>,
        mut accounts: std::collections::HashMap<keyward_model::EmployeeId, Vec<DirectoryAccount>>,
    ) -> Self {
        Self {
            items: page
                .items
                .into_iter()
                .map(|e| {
                    let own = accounts.remove(&e.id).unwrap_or_default();
                    EmployeeDetailDto::new(e, own)
                })
                .collect(),
            next_cursor: page.next_cursor.map(|c| c.as_str().to_owned()),
        }
    }
}

/// Paging parameters.
#[derive(Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

/// A person to create by hand (someone in no directory).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEmployeeRequest {
    /// E-mail address; unique among employees.
    #[schema(
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s.\x00-\x1f\x7f-\x9f][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s.\x00-\x1f\x7f-\x9f]+$",
        max_length = 254
    )]
    pub email: String,
    /// Display name.
    #[schema(
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        max_length = 256
    )]
    pub display_name: String,
}
