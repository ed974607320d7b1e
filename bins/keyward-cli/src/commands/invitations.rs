//! `keyward invitations list|resend|revoke` and `keyward mail send`.

use keyward_api::{InvitationDto, MailSendDto};
use keyward_service::Actor;

use crate::backend::Backend;
use crate::cli::{InvitationsCommand, MailCommand, OutputFormat};
use crate::exit::Failure;
use crate::output;
use crate::remote::NO_QUERY;

pub async fn run(
    backend: &Backend,
    cmd: InvitationsCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    let shown: Vec<InvitationDto> = match (backend, cmd) {
        (Backend::Direct(k), InvitationsCommand::List) => k
            .mail()
            .invitations()
            .await?
            .into_iter()
            .map(InvitationDto::from)
            .collect(),
        (Backend::Direct(k), InvitationsCommand::Resend { id }) => {
            vec![k.mail().resend(&id, &Actor::Cli).await?.into()]
        }
        (Backend::Direct(k), InvitationsCommand::Revoke { id }) => {
            vec![k.mail().revoke(&id, &Actor::Cli).await?.into()]
        }
        (Backend::Remote(r), InvitationsCommand::List) => r.get(&["invitations"], NO_QUERY).await?,
        (Backend::Remote(r), InvitationsCommand::Resend { id }) => {
            vec![r.post_empty(&["invitations", id.trim(), "resend"]).await?]
        }
        (Backend::Remote(r), InvitationsCommand::Revoke { id }) => {
            vec![r.post_empty(&["invitations", id.trim(), "revoke"]).await?]
        }
    };
    match format {
        OutputFormat::Json => output::json(&shown),
        OutputFormat::Text => output::table(
            &[
                "ID",
                "STATE",
                "RECIPIENT",
                "ATTEMPTS",
                "EXPIRES",
                "LAST ERROR",
            ],
            &shown
                .iter()
                .map(|v| {
                    vec![
                        v.id.to_string(),
                        v.state.clone(),
                        v.recipient.clone().unwrap_or_else(|| "-".into()),
                        v.attempts.to_string(),
                        v.expires_at.to_rfc3339(),
                        v.last_error.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
    Ok(())
}

pub async fn mail(
    backend: &Backend,
    cmd: MailCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    match cmd {
        MailCommand::Send => {
            let report: MailSendDto = match backend {
                Backend::Direct(k) => k.mail().send_due().await?.into(),
                Backend::Remote(r) => r.post_empty(&["mail", "send"]).await?,
            };
            match format {
                OutputFormat::Json => output::json(&report),
                OutputFormat::Text => println!(
                    "sent {}, failed {}, cancelled {}",
                    report.sent, report.failed, report.cancelled
                ),
            }
        }
    }
    Ok(())
}
