//! `keyward backup FILE` and `keyward restore FILE`: the whole database to one file and back,
//! with a bar over the rows. Both work on this host's database only.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use keyward_service::{BackupProgress, BackupReport, Keyward, Settings};
use serde_json::json;

use crate::cli::OutputFormat;
use crate::exit::Failure;
use crate::output;

pub async fn backup(settings: &Settings, file: &Path, format: OutputFormat) -> Result<(), Failure> {
    let keyward = Keyward::open(settings).await?;
    let bar = output::spinner(format, "reading".into());
    let mut tick = |step: BackupProgress<'_>| show_progress(&bar, step);
    let outcome = keyward.backup_to(file, &mut tick).await;
    bar.finish_and_clear();
    let report = outcome?;
    print(&report, format, "wrote");
    Ok(())
}

pub async fn restore(
    settings: &Settings,
    file: &Path,
    format: OutputFormat,
) -> Result<(), Failure> {
    let keyward = Keyward::open(settings).await?;
    let bar = output::spinner(format, "restoring".into());
    let mut tick = |step: BackupProgress<'_>| show_progress(&bar, step);
    let outcome = keyward.restore_from(file, &mut tick).await;
    bar.finish_and_clear();
    let report = outcome?;
    print(&report, format, "restored");
    Ok(())
}

fn print(report: &BackupReport, format: OutputFormat, done: &str) {
    let header = &report.header;
    match format {
        OutputFormat::Json => output::json(&json!({
            "file": report.file,
            "created_at": header.created_at,
            "backend": header.backend,
            "schema": header.migrations.last(),
            "rows": report.rows(),
            "tables": header.tables,
        })),
        OutputFormat::Text => {
            println!(
                "{done} {}: {} rows of {} tables, taken {} on {} at schema {}",
                report.file.display(),
                report.rows(),
                header.tables.len(),
                header.created_at.to_rfc3339(),
                header.backend,
                header.migrations.last().map_or("(none)", String::as_str)
            );
            for table in &header.tables {
                println!("  {:<20} {:>9}", table.table, table.rows);
            }
        }
    }
}

/// A bar over the rows of the whole backup, naming the table.
fn show_progress(bar: &ProgressBar, step: BackupProgress<'_>) {
    if bar.length() != Some(step.of) {
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} rows {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_length(step.of);
    }
    bar.set_message(step.table.to_owned());
    bar.set_position(step.done);
}
