//! `keyward admins create|link|list|disable`.

use keyward_model::Admin;
use keyward_service::{Actor, Keyward};
use serde_json::{Value, json};

use crate::cli::{AdminsCommand, OutputFormat};
use crate::exit::Failure;
use crate::output;

pub async fn run(
    keyward: &Keyward,
    cmd: AdminsCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    let admins = keyward.admins();
    match cmd {
        AdminsCommand::Create { email, name } => {
            let (admin, link) = admins.create(&email, &name, &Actor::Cli).await?;
            print_link(format, &admin_json(&admin), link.expose(), keyward);
        }
        AdminsCommand::Link { email } => {
            let link = admins.link(&email, &Actor::Cli).await?;
            print_link(
                format,
                &json!({ "email": email.trim() }),
                link.expose(),
                keyward,
            );
        }
        AdminsCommand::List => {
            let all = admins.list().await?;
            match format {
                OutputFormat::Json => output::json(
                    &all.iter()
                        .map(|v| {
                            let mut j = admin_json(&v.admin);
                            j["credentials"] = json!(v.credentials);
                            j
                        })
                        .collect::<Vec<_>>(),
                ),
                OutputFormat::Text => output::table(
                    &["EMAIL", "NAME", "STATUS", "CREDENTIALS"],
                    &all.iter()
                        .map(|v| {
                            vec![
                                v.admin.email.to_string(),
                                v.admin.name.clone(),
                                if v.admin.is_active() {
                                    "active"
                                } else {
                                    "disabled"
                                }
                                .into(),
                                if v.credentials.is_empty() {
                                    "- (not enrolled)".into()
                                } else {
                                    v.credentials
                                        .iter()
                                        .map(|c| c.label.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                },
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
        AdminsCommand::Disable { email } => {
            let admin = admins.disable(&email, &Actor::Cli).await?;
            match format {
                OutputFormat::Json => output::json(&admin_json(&admin)),
                OutputFormat::Text => {
                    println!("disabled {}; their sessions have ended", admin.email);
                }
            }
        }
    }
    Ok(())
}

fn print_link(format: OutputFormat, about: &Value, link: &str, keyward: &Keyward) {
    let hours = keyward.settings().console.enrollment_ttl_hours;
    match format {
        OutputFormat::Json => {
            let mut j = about.clone();
            j["enrollment_link"] = json!(link);
            j["expires_in_hours"] = json!(hours);
            output::json(&j);
        }
        OutputFormat::Text => {
            println!("{link}");
            eprintln!(
                "open this link in a browser to register a passkey or security key; it works \
                 once, for {hours} hours, and is shown only this once"
            );
        }
    }
}

fn admin_json(admin: &Admin) -> Value {
    json!({
        "id": admin.id,
        "email": admin.email,
        "name": admin.name,
        "created_at": admin.created_at,
        "disabled_at": admin.disabled_at,
    })
}
