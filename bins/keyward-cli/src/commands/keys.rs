//! `keyward keys ...`: the hardware-key lifecycle.

use std::path::Path;

use keyward_model::AuditRecord;
use keyward_service::{Actor, KeyView, Keyward, WithCode};
use serde_json::{Value, json};

use crate::cli::{KeysCommand, OutputFormat};
use crate::exit::{self, Failure};
use crate::output;

// One arm per subcommand; each is a call and a print.
#[allow(clippy::too_many_lines)]
pub async fn run(keyward: &Keyward, cmd: KeysCommand, format: OutputFormat) -> Result<(), Failure> {
    let keys = keyward.keys();
    let actor = Actor::Cli;
    match cmd {
        KeysCommand::Import { mut serials, file } => {
            if let Some(path) = file {
                serials.extend(read_serials(&path)?);
            }
            let imported = keys.import(&serials, &actor).await?;
            match format {
                OutputFormat::Json => output::json(
                    &imported
                        .into_iter()
                        .map(|key| key_json(&KeyView { key, owner: None }))
                        .collect::<Vec<_>>(),
                ),
                OutputFormat::Text => println!("imported {} key(s)", imported.len()),
            }
        }
        KeysCommand::List { status } => {
            let all = keys.list(status.as_deref()).await?;
            match format {
                OutputFormat::Json => output::json(&all.iter().map(key_json).collect::<Vec<_>>()),
                OutputFormat::Text => output::table(
                    &["SERIAL", "STATUS", "OWNER", "REASON"],
                    &all.iter()
                        .map(|v| {
                            vec![
                                v.key.serial.to_string(),
                                v.key.status.as_str().into(),
                                owner_text(v),
                                v.key.reason.map_or("-".into(), |r| r.as_str().into()),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
        KeysCommand::Show { serial } => print_key(format, &keys.show(&serial).await?),
        KeysCommand::Assign { serial, employee } => {
            print_with_code(format, &keys.assign(&serial, &employee, &actor).await?);
        }
        KeysCommand::Cancel { serial } => print_key(format, &keys.cancel(&serial, &actor).await?),
        KeysCommand::Activate { serial, code } => {
            print_key(format, &keys.submit_code(&serial, &code, &actor).await?);
        }
        KeysCommand::Lock { serial, reason } => {
            print_key(format, &keys.lock(&serial, &reason, &actor).await?);
        }
        KeysCommand::Suspend {
            serial,
            description,
        } => print_with_code(format, &keys.suspend(&serial, &description, &actor).await?),
        KeysCommand::Unlock { serial } => {
            print_with_code(format, &keys.unlock(&serial, &actor).await?);
        }
        KeysCommand::Deactivate { serial, reason } => {
            print_key(format, &keys.deactivate(&serial, &reason, &actor).await?);
        }
        KeysCommand::ConfirmWipe { serial } => {
            print_key(format, &keys.confirm_wipe(&serial, &actor).await?);
        }
        KeysCommand::Compromise { serial, reason } => {
            print_key(format, &keys.compromise(&serial, &reason, &actor).await?);
        }
        KeysCommand::Delete { serial } => {
            keys.delete(&serial, &actor).await?;
            match format {
                OutputFormat::Json => output::json(
                    &json!({ "serial": serial.trim().to_ascii_uppercase(), "deleted": true }),
                ),
                OutputFormat::Text => {
                    println!("deleted key {}", serial.trim().to_ascii_uppercase());
                }
            }
        }
        KeysCommand::History { serial } => {
            let records = keys.history(&serial).await?;
            match format {
                OutputFormat::Json => {
                    output::json(&records.iter().map(audit_json).collect::<Vec<_>>());
                }
                OutputFormat::Text => output::table(
                    &["SEQ", "TIME", "ACTOR", "ACTION", "FROM", "TO", "REASON"],
                    &records
                        .iter()
                        .map(|r| {
                            let d = &r.record.detail;
                            let field = |k: &str| d[k].as_str().unwrap_or("-").to_owned();
                            vec![
                                r.seq.to_string(),
                                r.record.at.to_rfc3339(),
                                r.record.actor.clone(),
                                r.record.action.clone(),
                                field("from"),
                                field("to"),
                                field("reason"),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
    }
    Ok(())
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

fn owner_text(v: &KeyView) -> String {
    v.owner.as_ref().map_or("-".into(), |e| {
        e.email
            .as_ref()
            .map_or_else(|| e.id.to_string(), ToString::to_string)
    })
}

fn key_json(v: &KeyView) -> Value {
    json!({
        "serial": v.key.serial,
        "status": v.key.status,
        "employee": v.owner.as_ref().map(|e| json!({
            "id": e.id,
            "email": e.email,
            "display_name": e.display_name,
        })),
        "reason": v.key.reason,
        "description": v.key.description,
        "wipe_pending": v.key.wipe_pending,
        "holder_workstation": v.key.linked_workstation,
        "created_at": v.key.created_at,
        "updated_at": v.key.updated_at,
    })
}

fn audit_json(r: &AuditRecord) -> Value {
    json!({
        "seq": r.seq,
        "at": r.record.at,
        "actor": r.record.actor,
        "action": r.record.action,
        "subject": r.record.subject,
        "detail": r.record.detail,
    })
}

fn print_key(format: OutputFormat, v: &KeyView) {
    match format {
        OutputFormat::Json => output::json(&key_json(v)),
        OutputFormat::Text => {
            println!("serial:  {}", v.key.serial);
            println!("status:  {}", v.key.status);
            println!("owner:   {}", owner_text(v));
            println!(
                "reason:  {}",
                v.key.reason.map_or("-".into(), |r| r.to_string())
            );
            if let Some(d) = &v.key.description {
                println!("note:    {d}");
            }
            if v.key.wipe_pending {
                println!("wipe:    queued");
            }
        }
    }
}

fn print_with_code(format: OutputFormat, done: &WithCode) {
    match format {
        OutputFormat::Json => {
            let mut value = key_json(&done.key);
            value["activation_code"] = json!(done.activation_code.expose());
            output::json(&value);
        }
        OutputFormat::Text => {
            print_key(format, &done.key);
            println!("activation code: {}", done.activation_code.expose());
            eprintln!("the activation code is shown only this once");
        }
    }
}
