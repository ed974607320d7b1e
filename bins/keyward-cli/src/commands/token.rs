//! `keyward token create|list|revoke`.

use keyward_model::{ApiToken, Scopes};
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
        TokenCommand::Create {
            name,
            scope,
            expires,
        } => {
            let scopes = Scopes::parse_list(&scope).map_err(keyward_service::Error::from)?;
            let expires_at = tokens.parse_expiry(&expires)?;
            let (token, secret) = tokens
                .create(&name, &scopes, expires_at, &Actor::Cli)
                .await?;
            match format {
                OutputFormat::Json => output::json(&json!({
                    "id": token.id,
                    "name": token.name,
                    "scopes": token.scopes,
                    "expires_at": token.expires_at,
                    "created_at": token.created_at,
                    "token": secret.expose(),
                })),
                OutputFormat::Text => {
                    println!("{}", secret.expose());
                    eprintln!(
                        "created token {:?} ({}) with scopes {}, {}; it is shown only this \
                         once: store it now",
                        token.name.as_str(),
                        token.id,
                        token.scopes,
                        token.expires_at.map_or_else(
                            || "no expiry".into(),
                            |t| format!("expires {}", t.to_rfc3339())
                        )
                    );
                }
            }
        }
        TokenCommand::List => {
            let all = tokens.list().await?;
            let now = chrono::Utc::now();
            match format {
                OutputFormat::Json => output::json(
                    &all.iter()
                        .map(|t| {
                            let mut j = token_json(t);
                            j["expired"] = json!(t.is_expired(now));
                            j
                        })
                        .collect::<Vec<_>>(),
                ),
                OutputFormat::Text => output::table(
                    &[
                        "NAME",
                        "ID",
                        "SCOPES",
                        "EXPIRES",
                        "CREATED",
                        "LAST USED",
                        "REVOKED",
                    ],
                    &all.iter()
                        .map(|t| {
                            vec![
                                t.name.to_string(),
                                t.id.to_string(),
                                t.scopes.to_string(),
                                expiry_text(t, now),
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

fn expiry_text(t: &ApiToken, now: chrono::DateTime<chrono::Utc>) -> String {
    match t.expires_at {
        None => "never".into(),
        Some(at) if t.is_expired(now) => format!("{} (expired)", at.to_rfc3339()),
        Some(at) => at.to_rfc3339(),
    }
}

fn token_json(t: &ApiToken) -> serde_json::Value {
    json!({
        "id": t.id,
        "name": t.name,
        "scopes": t.scopes,
        "expires_at": t.expires_at,
        "created_at": t.created_at,
        "last_used_at": t.last_used_at,
        "revoked_at": t.revoked_at,
    })
}
