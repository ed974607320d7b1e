//! `keyward employees list|show|create`.

use keyward_model::{DirectoryAccount, Employee};
use keyward_service::{Actor, Keyward};
use serde_json::json;

use crate::cli::{EmployeesCommand, OutputFormat};
use crate::exit::Failure;
use crate::output;

const PAGE: u32 = 500;

pub async fn run(
    keyward: &Keyward,
    cmd: EmployeesCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    let employees = keyward.employees();
    match cmd {
        EmployeesCommand::List => {
            let mut all: Vec<(Employee, Vec<DirectoryAccount>)> = Vec::new();
            let mut after = None;
            loop {
                let page = employees.list(after, Some(PAGE)).await?;
                let mut accounts = employees.accounts_of_page(&page.items).await?;
                for e in page.items {
                    let own = accounts.remove(&e.id).unwrap_or_default();
                    all.push((e, own));
                }
                match page.next_cursor {
                    Some(c) => after = Some(c.as_str().to_owned()),
                    None => break,
                }
            }
            match format {
                OutputFormat::Json => output::json(
                    &all.iter()
                        .map(|(e, a)| employee_json(e, a))
                        .collect::<Vec<_>>(),
                ),
                OutputFormat::Text => output::table(
                    &["ID", "EMAIL", "NAME", "STATUS", "ACCOUNTS"],
                    &all.iter()
                        .map(|(e, a)| {
                            vec![
                                e.id.to_string(),
                                e.email.as_ref().map_or("-".into(), ToString::to_string),
                                e.display_name.to_string(),
                                e.status.as_str().into(),
                                a.len().to_string(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
        EmployeesCommand::Show { employee } => {
            let e = employees.find(&employee).await?;
            let accounts = employees.accounts(e.id).await?;
            match format {
                OutputFormat::Json => output::json(&employee_json(&e, &accounts)),
                OutputFormat::Text => print_employee(&e, &accounts),
            }
        }
        EmployeesCommand::Create {
            email,
            display_name,
        } => {
            let e = employees.create(&email, &display_name, &Actor::Cli).await?;
            match format {
                OutputFormat::Json => output::json(&employee_json(&e, &[])),
                OutputFormat::Text => println!("created employee {} <{}>", e.id, email.trim()),
            }
        }
    }
    Ok(())
}

fn employee_json(e: &Employee, accounts: &[DirectoryAccount]) -> serde_json::Value {
    json!({
        "id": e.id,
        "email": e.email,
        "display_name": e.display_name,
        "status": e.status,
        "origin": e.origin,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
        "accounts": accounts.iter().map(|a| json!({
            "directory": a.directory,
            "object_guid": a.object_guid,
            "dn": a.dn,
            "sam_account_name": a.sam_account_name,
            "user_principal_name": a.user_principal_name,
            "enabled": a.enabled,
            "in_rotation_group": a.in_rotation_group,
            "missing_since": a.missing_since,
        })).collect::<Vec<_>>(),
    })
}

fn print_employee(e: &Employee, accounts: &[DirectoryAccount]) {
    println!("id:           {}", e.id);
    println!(
        "email:        {}",
        e.email.as_ref().map_or("-".into(), ToString::to_string)
    );
    println!("display name: {}", e.display_name);
    println!("status:       {}", e.status.as_str());
    println!("origin:       {}", e.origin.as_str());
    println!("created:      {}", e.created_at.to_rfc3339());
    if accounts.is_empty() {
        println!("accounts:     none");
    }
    for a in accounts {
        println!(
            "account:      {} {} {} ({})",
            a.directory,
            a.sam_account_name.as_deref().unwrap_or("-"),
            a.object_guid,
            if a.enabled { "enabled" } else { "disabled" }
        );
    }
}
