//! `keyward sync [DIRECTORY...] [--full] [--dry-run] [--confirm-removals RUN_ID]`,
//! `keyward sync runs`, `keyward sync show RUN_ID`.

use indicatif::{ProgressBar, ProgressStyle};
use keyward_api::{RunListParams, RunSummary, SyncRequest};
use keyward_service::{Actor, Error, SyncOptions, SyncProgress, SyncReport};
use serde_json::json;

use crate::backend::Backend;
use crate::cli::{OutputFormat, SyncArgs, SyncCommand};
use crate::commands::directory;
use crate::exit::Failure;
use crate::output;
use crate::remote::NO_QUERY;

pub async fn run(backend: &Backend, args: SyncArgs, format: OutputFormat) -> Result<(), Failure> {
    match args.command {
        Some(SyncCommand::Runs { limit }) => {
            let runs: Vec<RunSummary> = match backend {
                Backend::Direct(k) => k
                    .sync()
                    .runs(limit)
                    .await?
                    .iter()
                    .map(|r| RunSummary::from_record(r).map_err(|what| corrupt_run(r.id, what)))
                    .collect::<Result<_, _>>()?,
                Backend::Remote(r) => {
                    r.get(&["sync", "runs"], &RunListParams { limit: Some(limit) })
                        .await?
                }
            };
            match format {
                OutputFormat::Json => output::json(&runs),
                OutputFormat::Text => output::table(
                    &["RUN", "DIRECTORY", "MODE", "STATUS", "STARTED", "CHANGES"],
                    &runs
                        .iter()
                        .map(|r| {
                            let n = &r.changes;
                            vec![
                                r.id.to_string(),
                                r.directory.clone(),
                                format!("{}{}", r.mode, if r.dry_run { " (dry run)" } else { "" }),
                                r.status.to_string(),
                                r.started_at.to_rfc3339(),
                                format!("+{} ~{} -{}", n.created, n.updated, n.missing + n.removed),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
            Ok(())
        }
        Some(SyncCommand::Show { run_id }) => {
            let report: SyncReport = match backend {
                Backend::Direct(k) => {
                    let run = k.sync().show(&run_id).await?;
                    serde_json::from_value(run.report).map_err(|_| corrupt_run(run.id, "report"))?
                }
                Backend::Remote(r) => r.get(&["sync", "runs", run_id.trim()], NO_QUERY).await?,
            };
            match format {
                OutputFormat::Json => output::json(&report),
                OutputFormat::Text => {
                    print_report(&report);
                    for o in &report.outcomes {
                        println!(
                            "  {:<16} {} {}{}",
                            o.change,
                            o.subject,
                            o.dn.as_deref().unwrap_or(""),
                            if o.reasons.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", o.reasons.join(", "))
                            }
                        );
                    }
                }
            }
            Ok(())
        }
        None => sync_directories(backend, &args, format).await,
    }
}

/// A stored run whose mode, status or report no keyward wrote.
fn corrupt_run(id: uuid::Uuid, what: &str) -> Failure {
    Failure::from(Error::Internal {
        source: format!("stored sync run {id} has an unknown {what}").into(),
    })
}

async fn sync_directories(
    backend: &Backend,
    args: &SyncArgs,
    format: OutputFormat,
) -> Result<(), Failure> {
    let confirm = match &args.confirm_removals {
        None => None,
        Some(id) => Some(uuid::Uuid::parse_str(id.trim()).map_err(|_| {
            Failure::from(Error::InvalidInput(format!(
                "{id:?} is not a run id (a UUID)"
            )))
        })?),
    };
    let names: Vec<String> = if args.directories.is_empty() {
        directory::list(backend)
            .await?
            .into_iter()
            .map(|d| d.name)
            .collect()
    } else {
        args.directories.clone()
    };
    if names.is_empty() {
        return Err(Error::InvalidInput(
            "no directory is configured; add a [[directories]] table to the configuration".into(),
        )
        .into());
    }
    let mut results = Vec::new();
    let mut first_failure: Option<Failure> = None;
    for name in &names {
        let bar = output::spinner(format, format!("{name}: connecting"));
        let outcome = match backend {
            Backend::Direct(k) => {
                let options = SyncOptions {
                    full: args.full,
                    dry_run: args.dry_run,
                    confirm_removals_of: confirm,
                };
                let tick = |step: SyncProgress| show_progress(&bar, name, step);
                k.sync()
                    .run(name, &options, &Actor::Cli, &tick)
                    .await
                    .map_err(Failure::from)
            }
            Backend::Remote(r) => {
                bar.set_message(format!("{name}: running on the server"));
                let request = SyncRequest {
                    full: args.full,
                    dry_run: args.dry_run,
                    confirm_removals_of: confirm,
                };
                r.post::<SyncReport>(&["directories", name, "sync"], &request)
                    .await
            }
        };
        bar.finish_and_clear();
        match outcome {
            Ok(report) => {
                if format == OutputFormat::Text {
                    print_report(&report);
                }
                results.push(serde_json::to_value(&report).unwrap_or_default());
            }
            Err(failure) => {
                if format == OutputFormat::Text {
                    eprintln!("keyward: {name}: {}", failure.message);
                }
                results.push(json!({ "directory": name, "status": "failed", "error": { "code": failure.code, "message": failure.message } }));
                first_failure.get_or_insert(failure);
            }
        }
    }
    if format == OutputFormat::Json {
        output::json(&results);
    }
    match first_failure {
        Some(mut f) => {
            // Already printed per directory; the exit code still tells scripts.
            f.message = format!(
                "{} of {} directories failed",
                results.iter().filter(|r| r["status"] == "failed").count(),
                names.len()
            );
            Err(f)
        }
        None => Ok(()),
    }
}

/// The spinner while the directory is read (users so far), then a bar over the batches.
fn show_progress(bar: &ProgressBar, name: &str, step: SyncProgress) {
    match step {
        SyncProgress::Reading { users } => bar.set_message(format!("{name}: read {users} users")),
        SyncProgress::Writing { done, of } => {
            let of = u64::try_from(of).unwrap_or(u64::MAX);
            if bar.length() != Some(of) {
                if let Ok(style) = ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} batches {msg}",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_length(of);
                bar.set_message(format!("{name}: planning and writing"));
            }
            bar.set_position(u64::try_from(done).unwrap_or(u64::MAX));
        }
    }
}

fn print_report(r: &SyncReport) {
    println!(
        "{}: {} run {}{} {}: read {}, created {}, updated {}, merged {}, split {}, unchanged {}, missing {}, removed {}, held {}, skipped {}, conflicts {}, not mergeable {}",
        r.directory,
        r.mode,
        r.run_id,
        if r.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        },
        r.status,
        r.read,
        r.created,
        r.updated,
        r.merged,
        r.splits,
        r.unchanged,
        r.missing,
        r.removed,
        r.held,
        r.skipped.len(),
        r.conflicts.len(),
        r.not_mergeable,
    );
    if let Some(reason) = &r.full_reason {
        println!("  full run because {reason}");
    }
    for c in &r.conflicts {
        println!(
            "  conflict: {} is used by {}",
            c.email,
            c.accounts.join(" and ")
        );
    }
    for s in &r.skipped {
        println!("  skipped {}: {}", s.dn, s.reason);
    }
    if r.held > 0 {
        println!(
            "  {} removals held: confirm with `keyward sync {} --confirm-removals {}`",
            r.held, r.directory, r.run_id
        );
    }
}
