//! `keyward employees list|show|create`.

use keyward_api::{CreateEmployeeRequest, EmployeeDetailDto, EmployeePage, PageParams};
use keyward_service::Actor;

use crate::backend::Backend;
use crate::cli::{EmployeesCommand, OutputFormat};
use crate::exit::Failure;
use crate::output;
use crate::remote::NO_QUERY;

const PAGE: u32 = 500;

pub async fn run(
    backend: &Backend,
    cmd: EmployeesCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    match cmd {
        EmployeesCommand::List => {
            let mut all: Vec<EmployeeDetailDto> = Vec::new();
            let mut after = None;
            loop {
                let page = list_page(backend, after).await?;
                all.extend(page.items);
                match page.next_cursor {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
            match format {
                OutputFormat::Json => output::json(&all),
                OutputFormat::Text => output::table(
                    &["ID", "EMAIL", "NAME", "STATUS", "ACCOUNTS"],
                    &all.iter()
                        .map(|d| {
                            let e = &d.employee;
                            vec![
                                e.id.to_string(),
                                e.email.clone().unwrap_or_else(|| "-".into()),
                                e.display_name.clone(),
                                e.status.clone(),
                                d.accounts.len().to_string(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
        EmployeesCommand::Show { employee } => {
            let found: EmployeeDetailDto = match backend {
                Backend::Direct(k) => {
                    let employees = k.employees();
                    let e = employees.find(&employee).await?;
                    let accounts = employees.accounts(e.id).await?;
                    EmployeeDetailDto::new(e, accounts)
                }
                Backend::Remote(r) => r.get(&["employees", &employee], NO_QUERY).await?,
            };
            match format {
                OutputFormat::Json => output::json(&found),
                OutputFormat::Text => print_employee(&found),
            }
        }
        EmployeesCommand::Create {
            email,
            display_name,
        } => {
            let created: EmployeeDetailDto = match backend {
                Backend::Direct(k) => EmployeeDetailDto::new(
                    k.employees()
                        .create(&email, &display_name, &Actor::Cli)
                        .await?,
                    Vec::new(),
                ),
                Backend::Remote(r) => {
                    r.post(
                        &["employees"],
                        &CreateEmployeeRequest {
                            email: email.clone(),
                            display_name,
                        },
                    )
                    .await?
                }
            };
            match format {
                OutputFormat::Json => output::json(&created),
                OutputFormat::Text => println!(
                    "created employee {} <{}>",
                    created.employee.id,
                    email.trim()
                ),
            }
        }
    }
    Ok(())
}

/// One page of employees with their accounts.
async fn list_page(backend: &Backend, after: Option<String>) -> Result<EmployeePage, Failure> {
    match backend {
        Backend::Direct(k) => {
            let employees = k.employees();
            let page = employees.list(after, Some(PAGE)).await?;
            let accounts = employees.accounts_of_page(&page.items).await?;
            Ok(EmployeePage::new(page, accounts))
        }
        Backend::Remote(r) => {
            r.get(
                &["employees"],
                &PageParams {
                    after,
                    limit: Some(PAGE),
                },
            )
            .await
        }
    }
}

fn print_employee(d: &EmployeeDetailDto) {
    let e = &d.employee;
    println!("id:           {}", e.id);
    println!("email:        {}", e.email.as_deref().unwrap_or("-"));
    println!("display name: {}", e.display_name);
    println!("status:       {}", e.status);
    println!("origin:       {}", e.origin);
    println!("created:      {}", e.created_at.to_rfc3339());
    if d.accounts.is_empty() {
        println!("accounts:     none");
    }
    for a in &d.accounts {
        println!(
            "account:      {} {} {} ({})",
            a.directory,
            a.sam_account_name.as_deref().unwrap_or("-"),
            a.object_guid,
            if a.enabled { "enabled" } else { "disabled" }
        );
    }
}
