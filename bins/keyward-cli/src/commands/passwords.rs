//! `keyward passwords rotate|set|status|advance` and `keyward workstations
//! list|approve|revoke`. Nothing here ever prints a password.

use std::io::Read as _;
use std::path::Path;

use keyward_api::{
    AdvanceReportDto, PageParams, PasswordStatusDto, PasswordStatusParams, RotateRequest,
    SetPasswordRequest, WorkstationDto, WorkstationPage,
};
use keyward_service::{Actor, NewPassword, PasswordStatus, SecretString};

use crate::backend::Backend;
use crate::cli::{OutputFormat, PasswordsCommand, WorkstationsCommand};
use crate::exit::Failure;
use crate::output;

pub async fn run(
    backend: &Backend,
    cmd: PasswordsCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    let shown: Vec<PasswordStatusDto> = match cmd {
        PasswordsCommand::Rotate {
            employee,
            directory,
        } => match backend {
            Backend::Direct(k) => dtos(
                k.passwords()
                    .rotate(&employee, directory.as_deref(), &Actor::Cli)
                    .await?,
            ),
            Backend::Remote(r) => {
                r.post(
                    &["passwords", "rotate"],
                    &RotateRequest {
                        employee,
                        directory,
                    },
                )
                .await?
            }
        },
        PasswordsCommand::Set {
            employee,
            directory,
            generate,
            password_file,
        } => {
            let password = match (generate, password_file) {
                (true, _) => NewPassword::Generate,
                (false, Some(path)) => NewPassword::Given(read_password(&path)?),
                (false, None) => {
                    return Err(usage("give --generate or --password-file FILE"));
                }
            };
            vec![match backend {
                Backend::Direct(k) => k
                    .passwords()
                    .set(&employee, &directory, password, &Actor::Cli)
                    .await?
                    .into(),
                Backend::Remote(r) => {
                    let password = match password {
                        NewPassword::Generate => None,
                        NewPassword::Given(p) => Some(p.expose().to_owned()),
                    };
                    let request = SetPasswordRequest {
                        employee,
                        directory,
                        password,
                    };
                    r.post(&["passwords", "set"], &request).await?
                }
            }]
        }
        PasswordsCommand::Status { employee } => match backend {
            Backend::Direct(k) => dtos(k.passwords().status(employee.as_deref()).await?),
            Backend::Remote(r) => {
                r.get(&["passwords"], &PasswordStatusParams { employee })
                    .await?
            }
        },
        PasswordsCommand::Advance => {
            let report: AdvanceReportDto = match backend {
                Backend::Direct(k) => k.passwords().advance_due().await?.into(),
                Backend::Remote(r) => r.post_empty(&["passwords", "advance"]).await?,
            };
            match format {
                OutputFormat::Json => output::json(&report),
                OutputFormat::Text => println!(
                    "committed {}, refused {}, retried {}",
                    report.committed, report.refused, report.retried
                ),
            }
            return Ok(());
        }
    };
    print_status(&shown, format);
    Ok(())
}

fn dtos(list: Vec<PasswordStatus>) -> Vec<PasswordStatusDto> {
    list.into_iter().map(PasswordStatusDto::from).collect()
}

fn print_status(shown: &[PasswordStatusDto], format: OutputFormat) {
    match format {
        OutputFormat::Json => output::json(&shown),
        OutputFormat::Text => output::table(
            &[
                "DIRECTORY",
                "ACCOUNT",
                "KEY",
                "VERSION",
                "STATE",
                "LAST COMMIT",
                "WAITING FOR",
                "LAST ERROR",
            ],
            &shown
                .iter()
                .map(|s| {
                    let waiting = match (&s.waiting_for, s.overdue) {
                        (Some(w), true) => format!("{w} (OVERDUE)"),
                        (Some(w), false) => w.clone(),
                        (None, _) => "-".into(),
                    };
                    vec![
                        s.directory.clone(),
                        s.sam_account_name
                            .clone()
                            .unwrap_or_else(|| s.object_guid.to_string()),
                        s.key_serial.clone().unwrap_or_else(|| "-".into()),
                        match s.pending_version {
                            Some(p) => format!("{} -> {p}", s.version),
                            None => s.version.to_string(),
                        },
                        s.state.clone(),
                        s.last_commit.map_or_else(|| "-".into(), |t| t.to_rfc3339()),
                        waiting,
                        s.last_error.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
}

/// The first line of a file (or of standard input for `-`), without its line end.
fn read_password(path: &Path) -> Result<SecretString, Failure> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            usage(&format!(
                "cannot read the password from standard input: {e}"
            ))
        })?;
    } else {
        text = std::fs::read_to_string(path).map_err(|e| {
            usage(&format!(
                "cannot read the password file {}: {e}",
                path.display()
            ))
        })?;
    }
    let line = text.lines().next().unwrap_or_default().to_owned();
    text.clear();
    if line.is_empty() {
        return Err(usage("the password file is empty"));
    }
    Ok(SecretString::new(line))
}

fn usage(message: &str) -> Failure {
    Failure {
        code: "invalid_input",
        exit_code: crate::exit::INVALID_INPUT,
        message: message.to_owned(),
    }
}

pub async fn workstations(
    backend: &Backend,
    cmd: WorkstationsCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    let mut next_cursor = None;
    let mut paged = false;
    let shown: Vec<WorkstationDto> = match cmd {
        WorkstationsCommand::List { after, limit } => {
            if limit.is_some() {
                paged = true;
                let page = workstation_page(backend, after, limit).await?;
                next_cursor = page.next_cursor;
                page.items
            } else {
                let mut all = Vec::new();
                let mut after = after;
                loop {
                    let page = workstation_page(backend, after, Some(WORKSTATION_PAGE)).await?;
                    all.extend(page.items);
                    match page.next_cursor {
                        Some(c) => after = Some(c),
                        None => break,
                    }
                }
                all
            }
        }
        WorkstationsCommand::Approve { id } => vec![match backend {
            Backend::Direct(k) => k.agent().approve(&id, &Actor::Cli).await?.into(),
            Backend::Remote(r) => {
                r.post_empty(&["workstations", id.trim(), "approve"])
                    .await?
            }
        }],
        WorkstationsCommand::Revoke { id } => vec![match backend {
            Backend::Direct(k) => k.agent().revoke(&id, &Actor::Cli).await?.into(),
            Backend::Remote(r) => r.post_empty(&["workstations", id.trim(), "revoke"]).await?,
        }],
    };
    match format {
        // A page asked for with --limit is an object with its cursor (null on the last page);
        // everything else is the list as before.
        OutputFormat::Json if paged => output::json(&WorkstationPage {
            items: shown,
            next_cursor,
        }),
        OutputFormat::Json => output::json(&shown),
        OutputFormat::Text => {
            output::table(
                &[
                    "ID",
                    "NAME",
                    "STATUS",
                    "FINGERPRINT",
                    "SOURCE",
                    "REGISTERED",
                    "LAST SEEN",
                ],
                &shown
                    .iter()
                    .map(|w| {
                        vec![
                            w.id.to_string(),
                            w.name.clone(),
                            w.status.clone(),
                            w.credential_fingerprint.clone(),
                            w.source_address.clone().unwrap_or_else(|| "-".into()),
                            w.created_at.to_rfc3339(),
                            w.last_seen_at
                                .map_or_else(|| "-".into(), |t| t.to_rfc3339()),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
            if let Some(cursor) = next_cursor {
                eprintln!("more: keyward workstations list --after {cursor}");
            }
        }
    }
    Ok(())
}

async fn workstation_page(
    backend: &Backend,
    after: Option<String>,
    limit: Option<u32>,
) -> Result<WorkstationPage, Failure> {
    match backend {
        Backend::Direct(k) => {
            let page = k.agent().list(after, limit).await?;
            Ok(WorkstationPage {
                items: page.items.into_iter().map(WorkstationDto::from).collect(),
                next_cursor: page.next_cursor.map(|c| c.as_str().to_owned()),
            })
        }
        Backend::Remote(r) => r.get(&["workstations"], &PageParams { after, limit }).await,
    }
}

/// Page size of a complete `workstations list`.
const WORKSTATION_PAGE: u32 = 500;
