//! Employees: the filtered list, one employee (accounts, keys, password state, invitations),
//! assigning a key (the activation code shown once), rotating or setting a password.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use keyward_model::{Employee, EmployeeId};
use keyward_service::{EmployeeFilter, NewPassword, SecretString};
use serde::Deserialize;

use crate::console::frame::{
    Checked, Flash, Frame, NoFields, Notice, Signed, after_action, render,
};
use crate::state::AppState;

use super::{failed, fmt_time};

/// The most Ready keys the assign list offers (the first by serial).
const READY_KEYS_SHOWN: u32 = 500;

#[derive(Deserialize, Default)]
pub(crate) struct ListParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    directory: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    key: String,
    after: Option<String>,
}

struct Row {
    id: String,
    name: String,
    email: String,
    status: String,
    directories: Vec<String>,
    keys: Vec<String>,
}

#[derive(Template)]
#[template(path = "employees.html")]
struct ListPage {
    frame: Frame,
    q: String,
    directory: String,
    status: String,
    key: String,
    directories: Vec<String>,
    rows: Vec<Row>,
    next: Option<String>,
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    signed: Signed,
    flash: Flash,
    Query(p): Query<ListParams>,
) -> Response {
    let k = &state.keyward;
    let filter = EmployeeFilter {
        text: non_empty(&p.q),
        directory: non_empty(&p.directory),
        status: non_empty(&p.status),
        has_key: match p.key.as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        },
    };
    let page = match k
        .employees()
        .search(&filter, p.after.clone(), Some(50))
        .await
    {
        Ok(page) => page,
        Err(e) => return failed(signed.frame("employees", flash), e),
    };
    let accounts = k
        .employees()
        .accounts_of_page(&page.items)
        .await
        .unwrap_or_default();
    let mut keys_of: HashMap<EmployeeId, Vec<String>> = HashMap::new();
    let ids: Vec<EmployeeId> = page.items.iter().map(|e| e.id).collect();
    for key in k.keys().of_employees(&ids).await.unwrap_or_default() {
        if let Some(owner) = key.employee_id {
            keys_of
                .entry(owner)
                .or_default()
                .push(key.serial.to_string());
        }
    }
    let rows = page
        .items
        .iter()
        .map(|e| {
            let mut directories: Vec<String> = accounts
                .get(&e.id)
                .into_iter()
                .flatten()
                .map(|a| a.directory.to_string())
                .collect();
            directories.sort();
            directories.dedup();
            Row {
                id: e.id.to_string(),
                name: e.display_name.as_str().to_owned(),
                email: e
                    .email
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                status: e.status.as_str().to_owned(),
                directories,
                keys: keys_of.remove(&e.id).unwrap_or_default(),
            }
        })
        .collect();
    let next = page.next_cursor.map(|c| {
        let query = super::query_string(&[
            ("q", &p.q),
            ("directory", &p.directory),
            ("status", &p.status),
            ("key", &p.key),
            ("after", c.as_str()),
        ]);
        format!("/console/employees?{query}")
    });
    render(&ListPage {
        frame: signed.frame("employees", flash),
        directories: k
            .settings()
            .directories
            .iter()
            .map(|d| d.name.clone())
            .collect(),
        q: p.q,
        directory: p.directory,
        status: p.status,
        key: p.key,
        rows,
        next,
    })
}

struct AccountRow {
    directory: String,
    dn: String,
    sam: String,
    upn: String,
    in_rotation_group: bool,
    missing_since: String,
    password_state: String,
    waiting_for: Option<String>,
}

struct InvitationRow {
    id: String,
    created: String,
    state: String,
    recipient: String,
}

#[derive(Template)]
#[template(path = "employee.html")]
struct EmployeePage {
    frame: Frame,
    id: String,
    name: String,
    email: String,
    status: String,
    accounts: Vec<AccountRow>,
    account_directories: Vec<String>,
    /// (serial, status, reason)
    keys: Vec<(String, String, String)>,
    ready_keys: Vec<String>,
    invitations: Vec<InvitationRow>,
    /// (serial, code): only in the answer to the assignment.
    activation_code: Option<(String, String)>,
}

pub(crate) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    flash: Flash,
    Path(id): Path<String>,
) -> Response {
    employee_page(&state, signed.frame("employees", flash), &id, None).await
}

async fn employee_page(
    state: &AppState,
    frame: Frame,
    id: &str,
    activation_code: Option<(String, String)>,
) -> Response {
    let k = &state.keyward;
    let employee: Employee = match k.employees().find(id).await {
        Ok(e) => e,
        Err(e) => return failed(frame, e),
    };
    let accounts = k
        .employees()
        .accounts(employee.id)
        .await
        .unwrap_or_default();
    let passwords = k
        .passwords()
        .status(Some(&employee.id.to_string()))
        .await
        .unwrap_or_default();
    let keys = k
        .keys()
        .of_employees(&[employee.id])
        .await
        .unwrap_or_default()
        .iter()
        .map(|key| {
            (
                key.serial.to_string(),
                key.status.as_str().to_owned(),
                key.reason
                    .map(|r| r.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let ready_keys = k
        .keys()
        .list(
            Some(keyward_keys::KeyStatus::Ready.as_str()),
            None,
            Some(READY_KEYS_SHOWN),
        )
        .await
        .map(|page| page.items)
        .unwrap_or_default()
        .iter()
        .map(|v| v.key.serial.to_string())
        .collect();
    let invitations = k
        .mail()
        .invitations()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.invitation.employee_id == employee.id)
        .map(|i| InvitationRow {
            id: i.invitation.id.to_string(),
            created: fmt_time(i.invitation.created_at),
            state: i.state.to_owned(),
            recipient: i.recipient.unwrap_or_default(),
        })
        .collect();
    let mut account_directories: Vec<String> =
        accounts.iter().map(|a| a.directory.to_string()).collect();
    account_directories.dedup();
    let accounts = accounts
        .iter()
        .map(|a| {
            let password = passwords.iter().find(|p| p.object_guid == a.object_guid);
            AccountRow {
                directory: a.directory.to_string(),
                dn: a.dn.clone(),
                sam: a.sam_account_name.clone().unwrap_or_default(),
                upn: a.user_principal_name.clone().unwrap_or_default(),
                in_rotation_group: a.in_rotation_group,
                missing_since: a.missing_since.map(fmt_time).unwrap_or_default(),
                password_state: password.map_or_else(
                    || "not on a key".to_owned(),
                    |p| format!("{} (version {})", p.state, p.version),
                ),
                waiting_for: password.and_then(|p| p.waiting_for.clone()),
            }
        })
        .collect();
    render(&EmployeePage {
        frame,
        id: employee.id.to_string(),
        name: employee.display_name.as_str().to_owned(),
        email: employee.email.map(|e| e.to_string()).unwrap_or_default(),
        status: employee.status.as_str().to_owned(),
        accounts,
        account_directories,
        keys,
        ready_keys,
        invitations,
        activation_code,
    })
}

#[derive(Deserialize)]
pub(crate) struct AssignForm {
    serial: String,
}

/// Assigns the key and answers the employee page with the activation code, shown this once
/// (no redirect: the code is in no URL, cookie or later page).
pub(crate) async fn assign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Checked { signed, form }: Checked<AssignForm>,
) -> Response {
    let frame = signed.frame("employees", Flash(None));
    match state
        .keyward
        .keys()
        .assign(&form.serial, &id, &signed.actor())
        .await
    {
        Ok(with_code) => {
            let serial = with_code.key.key.serial.to_string();
            let code = with_code.activation_code.expose().to_owned();
            let frame = frame.with_notice(Notice::ok(format!("key {serial} assigned")));
            employee_page(&state, frame, &id, Some((serial, code))).await
        }
        Err(e) => {
            let frame = frame.with_notice(Notice::error(e));
            employee_page(&state, frame, &id, None).await
        }
    }
}

pub(crate) async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Checked { signed, form: _ }: Checked<NoFields>,
) -> Response {
    let outcome = state
        .keyward
        .passwords()
        .rotate(&id, None, &signed.actor())
        .await
        .map(|started| format!("rotation started for {} account(s)", started.len()));
    after_action(&format!("/console/employees/{id}"), outcome)
}

#[derive(Deserialize)]
pub(crate) struct SetForm {
    directory: String,
    password: String,
}

pub(crate) async fn set_password(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Checked { signed, form }: Checked<SetForm>,
) -> Response {
    let password = NewPassword::Given(SecretString::new(form.password));
    let outcome = state
        .keyward
        .passwords()
        .set(&id, &form.directory, password, &signed.actor())
        .await
        .map(|s| {
            format!(
                "the new password of {} goes to the key first ({})",
                s.directory, s.state
            )
        });
    after_action(&format!("/console/employees/{id}"), outcome)
}
