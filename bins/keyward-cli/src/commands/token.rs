//! `keyward token create|list|revoke`.

use keyward_model::ApiToken;
use keyward_service::{Actor, Keyward};
use serde_json::json;

use crate::cli::{OutputFormat, TokenCommand};
use crate::exit::Failure;
use crate::output;

pub async fn run(
    keyward: &Keyward,
    cmd: TokenCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    let tokens = keyward.tokens();
    match cmd {
        TokenCommand::Create { name } => {
            let (token, secret) = tokens.create(&name, &Actor::Cli).await?;
            match format {
                OutputFormat::Json => output::json(&json!({
                    "id": token.id,
                    "name": token.name,
                    "created_at": token.created_at,
                    "token": secret.expose(),
                })),
                OutputFormat::Text => {
                    println!("{}", secret.expose());
                    eprintln!(
                        "created token {:?} ({}); it is shown only this once: store it now",
                        token.name.as_str(),
                        token.id
                    );
                }
            }
        }
        TokenCommand::List => {
            let all = tokens.list().await?;
            match format {
                OutputFormat::Json => output::json(&all.iter().map(token_json).collect::<Vec<_>>()),
                OutputFormat::Text => output::table(
                    &["NAME", "ID", "CREATED", "LAST USED", "REVOKED"],
                    &all.iter()
                        .map(|t| {
                            vec![
                                t.name.to_string(),
                                t.id.to_string(),
                                t.created_at.to_rfc3339(),
                                t.last_used_at.map_or("-".into(), |d| d.to_rfc3339()),
                                t.revoked_at.map_or("-".into(), |d| d.to_rfc3339()),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
        TokenCommand::Revoke { name } => {
            let token = tokens.revoke(&name, &Actor::Cli).await?;
            match format {
                OutputFormat::Json => output::json(&token_json(&token)),
                OutputFormat::Text => println!("revoked token {:?}", token.name.as_str()),
            }
        }
    }
    Ok(())
}

fn token_json(t: &ApiToken) -> serde_json::Value {
    json!({
        "id": t.id,
        "name": t.name,
        "created_at": t.created_at,
        "last_used_at": t.last_used_at,
        "revoked_at": t.revoked_at,
    })
}
