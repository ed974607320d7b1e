//! `keyward config check [--connect]`: every problem of the configuration, one line each.
//!
//! Text output: one line per problem on stdout, then exit 3 with a one-line summary on stderr;
//! without a problem, what was checked (and, with `--connect`, what answered) and exit 0. JSON:
//! one document with `ok`, `problems` and `connections`, and the same exit codes.

use keyward_service::{ConnectionCheck, Overrides, check_config, check_connections};
use serde_json::json;

use crate::cli::{ConfigCommand, Global, OutputFormat};
use crate::exit::{self, Failure};
use crate::output;

pub async fn run(
    global: &Global,
    cmd: ConfigCommand,
    overrides: &Overrides,
) -> Result<(), Failure> {
    let ConfigCommand::Check { connect } = cmd;
    let env: Vec<(String, String)> = std::env::vars().collect();
    let check = check_config(global.config.as_deref(), &env, overrides);
    let connections: Vec<ConnectionCheck> = match (&check.settings, connect) {
        (Some(settings), true) => {
            // Kerberos directories need their variables (this may start `keyward` again); a
            // configuration that cannot have them is among the problems already.
            let _ = keyward_service::enter_kerberos_environment(settings);
            check_connections(settings).await
        }
        _ => Vec::new(),
    };
    let mut problems = check.problems.clone();
    problems.extend(
        connections
            .iter()
            .filter_map(|c| c.result.as_ref().err().cloned()),
    );
    let source = global.config.as_ref().map_or_else(
        || "no configuration file: defaults, KEYWARD_* variables and flags".to_owned(),
        |path| path.display().to_string(),
    );
    match global.output {
        OutputFormat::Json => output::json(&json!({
            "config_file": global.config,
            "ok": problems.is_empty(),
            "problems": problems,
            "connections": connections.iter().map(|c| match &c.result {
                Ok(detail) => json!({ "target": c.target, "ok": true, "detail": detail }),
                Err(problem) => json!({ "target": c.target, "ok": false, "problem": problem }),
            }).collect::<Vec<_>>(),
        })),
        OutputFormat::Text => {
            for problem in &problems {
                println!("{problem}");
            }
            if problems.is_empty() {
                for c in &connections {
                    if let Ok(detail) = &c.result {
                        println!("{}: ok: {detail}", c.target);
                    }
                }
                if connect
                    && check
                        .settings
                        .as_ref()
                        .is_some_and(|s| s.mail.smtp_host.is_empty())
                {
                    println!("SMTP server: not tested: mail is off (mail.smtp_host is empty)");
                }
                println!("configuration ok: {source}");
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure {
            code: "invalid_config",
            exit_code: exit::CONFIG,
            message: format!(
                "{} problem{} in the configuration ({source})",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            ),
        })
    }
}
