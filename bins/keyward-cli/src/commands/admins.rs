//! `keyward admins create|link|list|disable`.

use keyward_api::{AdminDetailDto, AdminDto, CreateAdminRequest, EnrollmentLinkDto};
use keyward_service::{Actor, Keyward};

use crate::backend::Backend;
use crate::cli::{AdminsCommand, OutputFormat};
use crate::exit::Failure;
use crate::output;
use crate::remote::NO_QUERY;

pub async fn run(
    backend: &Backend,
    cmd: AdminsCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    match cmd {
        AdminsCommand::Create { email, name } => {
            let link: EnrollmentLinkDto = match backend {
                Backend::Direct(k) => {
                    let (admin, link) = k.admins().create(&email, &name, &Actor::Cli).await?;
                    enrollment(
                        k,
                        admin.email.as_str(),
                        Some(AdminDto::from(&admin)),
                        link.expose(),
                    )
                }
                Backend::Remote(r) => {
                    r.post(&["admins"], &CreateAdminRequest { email, name })
                        .await?
                }
            };
            print_link(format, &link);
        }
        AdminsCommand::Link { email } => {
            let link: EnrollmentLinkDto = match backend {
                Backend::Direct(k) => {
                    let link = k.admins().link(&email, &Actor::Cli).await?;
                    enrollment(k, email.trim(), None, link.expose())
                }
                Backend::Remote(r) => r.post_empty(&["admins", &email, "link"]).await?,
            };
            print_link(format, &link);
        }
        AdminsCommand::List => {
            let all: Vec<AdminDetailDto> = match backend {
                Backend::Direct(k) => k
                    .admins()
                    .list()
                    .await?
                    .iter()
                    .map(AdminDetailDto::from)
                    .collect(),
                Backend::Remote(r) => r.get(&["admins"], NO_QUERY).await?,
            };
            match format {
                OutputFormat::Json => output::json(&all),
                OutputFormat::Text => output::table(
                    &["EMAIL", "NAME", "STATUS", "CREDENTIALS"],
                    &all.iter()
                        .map(|v| {
                            vec![
                                v.admin.email.clone(),
                                v.admin.name.clone(),
                                if v.admin.disabled_at.is_none() {
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
            let admin: AdminDto = match backend {
                Backend::Direct(k) => (&k.admins().disable(&email, &Actor::Cli).await?).into(),
                Backend::Remote(r) => r.post_empty(&["admins", &email, "disable"]).await?,
            };
            match format {
                OutputFormat::Json => output::json(&admin),
                OutputFormat::Text => {
                    println!("disabled {}; their sessions have ended", admin.email);
                }
            }
        }
    }
    Ok(())
}

fn enrollment(k: &Keyward, email: &str, admin: Option<AdminDto>, link: &str) -> EnrollmentLinkDto {
    EnrollmentLinkDto {
        email: email.to_owned(),
        admin,
        enrollment_link: link.to_owned(),
        expires_in_hours: k.settings().console.enrollment_ttl_hours,
    }
}

fn print_link(format: OutputFormat, link: &EnrollmentLinkDto) {
    match format {
        OutputFormat::Json => output::json(link),
        OutputFormat::Text => {
            println!("{}", link.enrollment_link);
            eprintln!(
                "open this link in a browser to register a passkey or security key; it works \
                 once, for {} hours, and is shown only this once",
                link.expires_in_hours
            );
        }
    }
}
