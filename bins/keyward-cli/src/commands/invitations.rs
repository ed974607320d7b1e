//! `keyward invitations list|resend|revoke` and `keyward mail send`.

use keyward_service::{Actor, InvitationView, Keyward};
use serde_json::json;

use crate::cli::{InvitationsCommand, MailCommand, OutputFormat};
use crate::exit::Failure;
use crate::output;

pub async fn run(
    keyward: &Keyward,
    cmd: InvitationsCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    let mail = keyward.mail();
    let shown = match cmd {
        InvitationsCommand::List => mail.invitations().await?,
        InvitationsCommand::Resend { id } => vec![mail.resend(&id, &Actor::Cli).await?],
        InvitationsCommand::Revoke { id } => vec![mail.revoke(&id, &Actor::Cli).await?],
    };
    match format {
        OutputFormat::Json => output::json(&shown.iter().map(invitation_json).collect::<Vec<_>>()),
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
                        v.invitation.id.to_string(),
                        v.state.to_owned(),
                        v.recipient.clone().unwrap_or_else(|| "-".into()),
                        v.attempts.to_string(),
                        v.invitation.expires_at.to_rfc3339(),
                        v.last_error.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
    Ok(())
}

pub async fn mail(
    keyward: &Keyward,
    cmd: MailCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    match cmd {
        MailCommand::Send => {
            let report = keyward.mail().send_due().await?;
            match format {
                OutputFormat::Json => output::json(&json!({
                    "sent": report.sent,
                    "failed": report.failed,
                    "cancelled": report.cancelled,
                })),
                OutputFormat::Text => println!(
                    "sent {}, failed {}, cancelled {}",
                    report.sent, report.failed, report.cancelled
                ),
            }
        }
    }
    Ok(())
}

fn invitation_json(v: &InvitationView) -> serde_json::Value {
    json!({
        "id": v.invitation.id,
        "employee_id": v.invitation.employee_id,
        "state": v.state,
        "recipient": v.recipient,
        "attempts": v.attempts,
        "last_error": v.last_error,
        "expires_at": v.invitation.expires_at,
        "accepted_at": v.invitation.accepted_at,
    })
}
