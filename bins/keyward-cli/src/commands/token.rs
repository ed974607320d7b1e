//! `keyward token create|list|revoke`.

use keyward_api::{CreateTokenRequest, CreatedTokenDto, TokenDto};
use keyward_model::Scopes;
use keyward_service::Actor;

use crate::backend::Backend;
use crate::cli::{OutputFormat, TokenCommand};
use crate::exit::Failure;
use crate::output;
use crate::remote::NO_QUERY;

// One arm per subcommand; each is a call (direct or remote) and a print.
#[allow(clippy::too_many_lines)]
pub async fn run(
    backend: &Backend,
    cmd: TokenCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    match cmd {
        TokenCommand::Create {
            name,
            scope,
            expires,
        } => {
            let created: CreatedTokenDto = match backend {
                Backend::Direct(k) => {
                    let tokens = k.tokens();
                    let scopes =
                        Scopes::parse_list(&scope).map_err(keyward_service::Error::from)?;
                    let expires_at = tokens.parse_expiry(&expires)?;
                    let (token, secret) = tokens
                        .create(&name, &scopes, expires_at, &Actor::Cli)
                        .await?;
                    CreatedTokenDto {
                        details: TokenDto::new(&token, chrono::Utc::now()),
                        token: secret.expose().to_owned(),
                    }
                }
                Backend::Remote(r) => {
                    let request = CreateTokenRequest {
                        name,
                        scope,
                        expires: Some(expires),
                    };
                    r.post(&["tokens"], &request).await?
                }
            };
            match format {
                OutputFormat::Json => output::json(&created),
                OutputFormat::Text => {
                    let t = &created.details;
                    println!("{}", created.token);
                    eprintln!(
                        "created token {:?} ({}) with scopes {}, {}; it is shown only this \
                         once: store it now",
                        t.name,
                        t.id,
                        t.scopes.join(","),
                        t.expires_at.map_or_else(
                            || "no expiry".into(),
                            |at| format!("expires {}", at.to_rfc3339())
                        )
                    );
                }
            }
        }
        TokenCommand::List => {
            let all: Vec<TokenDto> = match backend {
                Backend::Direct(k) => {
                    let now = chrono::Utc::now();
                    let tokens = k.tokens().list().await?;
                    tokens.iter().map(|t| TokenDto::new(t, now)).collect()
                }
                Backend::Remote(r) => r.get(&["tokens"], NO_QUERY).await?,
            };
            match format {
                OutputFormat::Json => output::json(&all),
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
                                t.name.clone(),
                                t.id.to_string(),
                                t.scopes.join(","),
                                expiry_text(t),
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
            let token: TokenDto = match backend {
                Backend::Direct(k) => TokenDto::new(
                    &k.tokens().revoke(&name, &Actor::Cli).await?,
                    chrono::Utc::now(),
                ),
                Backend::Remote(r) => r.post_empty(&["tokens", &name, "revoke"]).await?,
            };
            match format {
                OutputFormat::Json => output::json(&token),
                OutputFormat::Text => println!("revoked token {:?}", token.name),
            }
        }
    }
    Ok(())
}

fn expiry_text(t: &TokenDto) -> String {
    match t.expires_at {
        None => "never".into(),
        Some(at) if t.expired => format!("{} (expired)", at.to_rfc3339()),
        Some(at) => at.to_rfc3339(),
    }
}
