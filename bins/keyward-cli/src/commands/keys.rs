//! `keyward keys ...`: the hardware-key lifecycle.

use std::path::Path;

use keyward_api::{
    ActivationCodeRequest, AssignKeyRequest, AuditRecordDto, ImportKeysRequest, KeyDto,
    KeyListParams, KeyPage, KeyWithCodeDto, ReasonRequest, SuspendKeyRequest,
};
use keyward_service::{Actor, KeyView};
use serde_json::json;

use crate::backend::Backend;
use crate::cli::{KeysCommand, OutputFormat};
use crate::exit::{self, Failure};
use crate::output;
use crate::remote::NO_QUERY;

// One arm per subcommand; each is a call (direct or remote) and a print.
#[allow(clippy::too_many_lines)]
pub async fn run(backend: &Backend, cmd: KeysCommand, format: OutputFormat) -> Result<(), Failure> {
    match cmd {
        KeysCommand::Import { mut serials, file } => {
            if let Some(path) = file {
                serials.extend(read_serials(&path)?);
            }
            let bar = output::spinner(format, format!("importing {} key(s)", serials.len()));
            let imported: Result<Vec<KeyDto>, Failure> = match backend {
                Backend::Direct(k) => k
                    .keys()
                    .import(&serials, &Actor::Cli)
                    .await
                    .map(|keys| {
                        keys.into_iter()
                            .map(|key| KeyDto::from(KeyView { key, owner: None }))
                            .collect()
                    })
                    .map_err(Failure::from),
                Backend::Remote(r) => r.post(&["keys"], &ImportKeysRequest { serials }).await,
            };
            bar.finish_and_clear();
            let imported = imported?;
            match format {
                OutputFormat::Json => output::json(&imported),
                OutputFormat::Text => println!("imported {} key(s)", imported.len()),
            }
        }
        KeysCommand::List {
            status,
            after,
            limit,
        } => {
            let mut next_cursor = None;
            let all: Vec<KeyDto> = if limit.is_some() {
                let page = key_page(backend, status, after, limit).await?;
                next_cursor = Some(page.next_cursor);
                page.items
            } else {
                let mut all = Vec::new();
                let mut after = after;
                loop {
                    let page = key_page(backend, status.clone(), after, Some(KEY_PAGE)).await?;
                    all.extend(page.items);
                    match page.next_cursor {
                        Some(c) => after = Some(c),
                        None => break,
                    }
                }
                all
            };
            match format {
                // A page asked for with --limit is an object with its cursor (null on the last
                // page); without it, every key as a list.
                OutputFormat::Json => match next_cursor {
                    Some(next_cursor) => output::json(&KeyPage {
                        items: all,
                        next_cursor,
                    }),
                    None => output::json(&all),
                },
                OutputFormat::Text => output::table(
                    &["SERIAL", "STATUS", "OWNER", "REASON"],
                    &all.iter()
                        .map(|v| {
                            vec![
                                v.serial.clone(),
                                v.status.clone(),
                                owner_text(v),
                                v.reason.clone().unwrap_or_else(|| "-".into()),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
        KeysCommand::Show { serial } => {
            let key = match backend {
                Backend::Direct(k) => k.keys().show(&serial).await?.into(),
                Backend::Remote(r) => r.get(&["keys", &serial], NO_QUERY).await?,
            };
            print_key(format, &key);
        }
        KeysCommand::History { serial } => {
            let records: Vec<AuditRecordDto> = match backend {
                Backend::Direct(k) => k
                    .keys()
                    .history(&serial)
                    .await?
                    .into_iter()
                    .map(AuditRecordDto::from)
                    .collect(),
                Backend::Remote(r) => r.get(&["keys", &serial, "history"], NO_QUERY).await?,
            };
            print_history(format, &records);
        }
        KeysCommand::Delete { serial } => {
            match backend {
                Backend::Direct(k) => k.keys().delete(&serial, &Actor::Cli).await?,
                Backend::Remote(r) => r.delete(&["keys", &serial]).await?,
            }
            let serial = serial.trim().to_ascii_uppercase();
            match format {
                OutputFormat::Json => output::json(&json!({ "serial": serial, "deleted": true })),
                OutputFormat::Text => println!("deleted key {serial}"),
            }
        }
        KeysCommand::Assign { serial, employee } => {
            let done = match backend {
                Backend::Direct(k) => k
                    .keys()
                    .assign(&serial, &employee, &Actor::Cli)
                    .await?
                    .into(),
                Backend::Remote(r) => {
                    r.post(&["keys", &serial, "assign"], &AssignKeyRequest { employee })
                        .await?
                }
            };
            print_with_code(format, &done);
        }
        KeysCommand::Suspend {
            serial,
            description,
        } => {
            let done = match backend {
                Backend::Direct(k) => k
                    .keys()
                    .suspend(&serial, &description, &Actor::Cli)
                    .await?
                    .into(),
                Backend::Remote(r) => {
                    r.post(
                        &["keys", &serial, "suspend"],
                        &SuspendKeyRequest { description },
                    )
                    .await?
                }
            };
            print_with_code(format, &done);
        }
        KeysCommand::Unlock { serial } => {
            let done = match backend {
                Backend::Direct(k) => k.keys().unlock(&serial, &Actor::Cli).await?.into(),
                Backend::Remote(r) => r.post_empty(&["keys", &serial, "unlock"]).await?,
            };
            print_with_code(format, &done);
        }
        KeysCommand::Activate { serial, code } => {
            let key = match backend {
                Backend::Direct(k) => k
                    .keys()
                    .submit_code(&serial, &code, &Actor::Cli)
                    .await?
                    .into(),
                Backend::Remote(r) => {
                    // The API has one route per transition: a suspended key resumes, any other
                    // activates (and the server refuses what its status does not allow).
                    let current: KeyDto = r.get(&["keys", &serial], NO_QUERY).await?;
                    let step = if current.status == "suspended" {
                        "resume"
                    } else {
                        "activate"
                    };
                    r.post(&["keys", &serial, step], &ActivationCodeRequest { code })
                        .await?
                }
            };
            print_key(format, &key);
        }
        KeysCommand::Cancel { serial } => {
            print_key(
                format,
                &transition(backend, &serial, Step::Cancel, None).await?,
            );
        }
        KeysCommand::Lock { serial, reason } => {
            print_key(
                format,
                &transition(backend, &serial, Step::Lock, Some(reason)).await?,
            );
        }
        KeysCommand::Deactivate { serial, reason } => {
            let key = transition(backend, &serial, Step::Deactivate, Some(reason)).await?;
            print_key(format, &key);
        }
        KeysCommand::ConfirmWipe { serial } => {
            print_key(
                format,
                &transition(backend, &serial, Step::ConfirmWipe, None).await?,
            );
        }
        KeysCommand::Compromise { serial, reason } => {
            let key = transition(backend, &serial, Step::Compromise, Some(reason)).await?;
            print_key(format, &key);
        }
    }
    Ok(())
}

/// The transitions whose answer is the key alone.
#[derive(Clone, Copy)]
enum Step {
    Cancel,
    Lock,
    Deactivate,
    ConfirmWipe,
    Compromise,
}

impl Step {
    /// The last segment of its API route.
    fn route(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Lock => "lock",
            Self::Deactivate => "deactivate",
            Self::ConfirmWipe => "confirm-wipe",
            Self::Compromise => "compromise",
        }
    }
}

async fn transition(
    backend: &Backend,
    serial: &str,
    step: Step,
    reason: Option<String>,
) -> Result<KeyDto, Failure> {
    match backend {
        Backend::Direct(k) => {
            let keys = k.keys();
            let actor = Actor::Cli;
            let why = reason.as_deref().unwrap_or_default();
            let view = match step {
                Step::Cancel => keys.cancel(serial, &actor).await?,
                Step::Lock => keys.lock(serial, why, &actor).await?,
                Step::Deactivate => keys.deactivate(serial, why, &actor).await?,
                Step::ConfirmWipe => keys.confirm_wipe(serial, &actor).await?,
                Step::Compromise => keys.compromise(serial, why, &actor).await?,
            };
            Ok(view.into())
        }
        Backend::Remote(r) => {
            let path = ["keys", serial, step.route()];
            match reason {
                Some(reason) => r.post(&path, &ReasonRequest { reason }).await,
                None => r.post_empty(&path).await,
            }
        }
    }
}

/// Page size of a complete `keys list`.
const KEY_PAGE: u32 = 500;

/// One page of `keys list`, from the database or the server.
async fn key_page(
    backend: &Backend,
    status: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
) -> Result<KeyPage, Failure> {
    match backend {
        Backend::Direct(k) => {
            let page = k.keys().list(status.as_deref(), after, limit).await?;
            Ok(KeyPage {
                items: page.items.into_iter().map(KeyDto::from).collect(),
                next_cursor: page.next_cursor.map(|c| c.as_str().to_owned()),
            })
        }
        Backend::Remote(r) => {
            let query = KeyListParams {
                status,
                after,
                limit,
            };
            r.get(&["keys"], &query).await
        }
    }
}

/// The serials of a list file: a CSV table with a `serial` column (`,` or `;`, quoted fields,
/// a UTF-8 BOM) or one serial per line (`keyward_keys::parse_serial_list`). A file with any
/// problem is refused whole, naming the file, the line and what is wrong.
fn read_serials(path: &Path) -> Result<Vec<String>, Failure> {
    let invalid = |message: String| Failure {
        code: "invalid_input",
        exit_code: exit::INVALID_INPUT,
        message,
    };
    let bytes =
        std::fs::read(path).map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    let serials = keyward_keys::parse_serial_list(&bytes)
        .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    Ok(serials.into_iter().map(String::from).collect())
}

fn owner_text(v: &KeyDto) -> String {
    v.employee.as_ref().map_or("-".into(), |e| {
        e.email.clone().unwrap_or_else(|| e.id.to_string())
    })
}

fn print_history(format: OutputFormat, records: &[AuditRecordDto]) {
    match format {
        OutputFormat::Json => output::json(&records),
        OutputFormat::Text => output::table(
            &["SEQ", "TIME", "ACTOR", "ACTION", "FROM", "TO", "REASON"],
            &records
                .iter()
                .map(|r| {
                    let field = |k: &str| r.detail[k].as_str().unwrap_or("-").to_owned();
                    vec![
                        r.seq.to_string(),
                        r.at.to_rfc3339(),
                        r.actor.clone(),
                        r.action.clone(),
                        field("from"),
                        field("to"),
                        field("reason"),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
}

fn print_key(format: OutputFormat, v: &KeyDto) {
    match format {
        OutputFormat::Json => output::json(v),
        OutputFormat::Text => {
            println!("serial:  {}", v.serial);
            println!("status:  {}", v.status);
            println!("owner:   {}", owner_text(v));
            println!("reason:  {}", v.reason.as_deref().unwrap_or("-"));
            if let Some(d) = &v.description {
                println!("note:    {d}");
            }
            if v.wipe_pending {
                println!("wipe:    queued");
            }
        }
    }
}

fn print_with_code(format: OutputFormat, done: &KeyWithCodeDto) {
    match format {
        OutputFormat::Json => output::json(done),
        OutputFormat::Text => {
            print_key(format, &done.key);
            println!("activation code: {}", done.activation_code);
            eprintln!("the activation code is shown only this once");
        }
    }
}
