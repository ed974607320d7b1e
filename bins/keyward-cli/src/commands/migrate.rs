//! `keyward migrate`: the only command that changes the schema; `--status` and `--dry-run`
//! read it and change nothing.

use keyward_service::{Error, Keyward, SchemaState, SchemaStatus, Settings, check_schema};
use serde_json::json;

use crate::cli::{MigrateArgs, OutputFormat};
use crate::exit::Failure;
use crate::output;

pub async fn run(
    settings: &Settings,
    args: &MigrateArgs,
    format: OutputFormat,
) -> Result<(), Failure> {
    let keyward = Keyward::connect(settings).await?;
    if args.status {
        status(&keyward, format).await
    } else if args.dry_run {
        dry_run(&keyward, format).await
    } else {
        apply(&keyward, format).await
    }
}

/// Prints the status, then fails with the one-line message (exit 9 or 10) unless it is current.
async fn status(keyward: &Keyward, format: OutputFormat) -> Result<(), Failure> {
    let status = keyward.schema_status().await?;
    let state = status.state();
    match format {
        OutputFormat::Json => output::json(&json!({
            "backend": keyward.backend(),
            "state": state.as_str(),
            "applied": status.applied,
            "pending": status.pending,
            "unknown": status.unknown,
        })),
        OutputFormat::Text => {
            println!(
                "schema {}: {} applied, {} pending, {} unknown ({})",
                state.as_str(),
                status.applied.len(),
                status.pending.len(),
                status.unknown.len(),
                keyward.backend()
            );
            let rows = listing(&status);
            if !rows.is_empty() {
                output::table(&["STATUS", "MIGRATION"], &rows);
            }
        }
    }
    Ok(check_schema(&status)?)
}

/// One row per migration: applied ones first, then pending, then unknown.
fn listing(status: &SchemaStatus) -> Vec<Vec<String>> {
    let rows = |label: &str, names: &[String]| {
        names
            .iter()
            .map(|n| vec![label.to_owned(), n.clone()])
            .collect::<Vec<_>>()
    };
    let mut out = rows("applied", &status.applied);
    out.extend(rows("pending", &status.pending));
    out.extend(rows("unknown", &status.unknown));
    out
}

/// Lists what `keyward migrate` would apply; refuses a newer schema as `migrate` does.
async fn dry_run(keyward: &Keyward, format: OutputFormat) -> Result<(), Failure> {
    let status = keyward.schema_status().await?;
    if status.state() == SchemaState::Ahead {
        return Err(Error::SchemaAhead {
            unknown: status.unknown,
        }
        .into());
    }
    match format {
        OutputFormat::Json => output::json(&json!({
            "backend": keyward.backend(),
            "dry_run": true,
            "already_applied": status.applied,
            "would_apply": status.pending,
        })),
        OutputFormat::Text => print_migrations(
            keyward,
            status.applied.len(),
            &status.pending,
            "would apply",
            "; nothing to apply",
        ),
    }
    Ok(())
}

async fn apply(keyward: &Keyward, format: OutputFormat) -> Result<(), Failure> {
    let report = keyward.migrate().await?;
    match format {
        OutputFormat::Json => output::json(&json!({
            "backend": keyward.backend(),
            "already_applied": report.already_applied,
            "applied_now": report.applied_now,
        })),
        OutputFormat::Text => print_migrations(
            keyward,
            report.already_applied.len(),
            &report.applied_now,
            "applied",
            "",
        ),
    }
    Ok(())
}

/// One line per migration in `names` (`verb name`), or that the schema is up to date.
fn print_migrations(keyward: &Keyward, applied: usize, names: &[String], verb: &str, none: &str) {
    if names.is_empty() {
        println!(
            "schema up to date ({applied} migrations applied, {}){none}",
            keyward.backend()
        );
    }
    for name in names {
        println!("{verb} {name}");
    }
}
