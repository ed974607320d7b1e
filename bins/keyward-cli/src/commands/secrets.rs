//! `keyward secrets new-key-file|check|rotate-key`: the key-encryption key that seals every
//! stored password. Nothing here prints a secret.

use std::num::NonZeroU64;

use indicatif::{ProgressBar, ProgressStyle};
use keyward_service::{KekRotationProgress, Keyward, Settings};
use serde_json::json;

use crate::cli::{OutputFormat, SecretsCommand};
use crate::exit::{CONFIG, Failure};
use crate::output;

pub async fn run(
    settings: &Settings,
    cmd: SecretsCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    match cmd {
        SecretsCommand::NewKeyFile { path } => {
            keyward_service::write_new_key_file(&path)?;
            match format {
                OutputFormat::Json => output::json(&json!({ "key_file": path })),
                OutputFormat::Text => println!(
                    "wrote {}; set secrets.key_file to it and keep a copy somewhere safe: \
                     without it no stored password can be opened",
                    path.display()
                ),
            }
            Ok(())
        }
        SecretsCommand::Check => check(settings, format).await,
        SecretsCommand::RotateKey {
            new_key_file,
            batch_size,
        } => {
            let keyward = Keyward::open(settings).await?;
            let batch = NonZeroU64::new(batch_size).unwrap_or(NonZeroU64::MIN);
            let bar = output::spinner(format, "re-sealing".into());
            let mut tick = |step: KekRotationProgress| show_progress(&bar, step);
            let outcome = keyward.rotate_kek(&new_key_file, batch, &mut tick).await;
            bar.finish_and_clear();
            let report = outcome?;
            match format {
                OutputFormat::Json => output::json(&json!({
                    "from": report.from,
                    "to": report.to,
                    "resealed": report.resealed,
                    "already_new": report.already_new,
                    "finished_earlier": report.finished_earlier,
                    "key_file": new_key_file,
                })),
                OutputFormat::Text if report.finished_earlier => println!(
                    "this database is already sealed with {} ({}); set secrets.key_file to it",
                    report.to,
                    new_key_file.display()
                ),
                OutputFormat::Text => println!(
                    "re-sealed {} secrets from key {} to key {} ({} were done by an earlier \
                     run); now set secrets.key_file to {} and start the servers; keep the old \
                     key until the backups made with it have expired",
                    report.resealed,
                    report.from,
                    report.to,
                    report.already_new,
                    new_key_file.display()
                ),
            }
            Ok(())
        }
    }
}

/// The key check, then every sealed value opened.
async fn check(settings: &Settings, format: OutputFormat) -> Result<(), Failure> {
    let keyward = Keyward::open(settings).await?;
    let report = keyward.verify_secrets().await?;
    match format {
        OutputFormat::Json => output::json(&json!({
            "fingerprint": report.fingerprint,
            "opened": report.opened,
            "failed": report.failed,
        })),
        OutputFormat::Text => {
            for failed in &report.failed {
                println!("does not open: {failed}");
            }
            if report.failed.is_empty() {
                println!(
                    "the key-encryption key {} opens this database's secrets ({} sealed values)",
                    report.fingerprint, report.opened
                );
            }
        }
    }
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(Failure {
            code: "invalid_config",
            exit_code: CONFIG,
            message: format!(
                "{} of {} sealed values do not open with the key {}",
                report.failed.len(),
                report.opened + report.failed.len() as u64,
                report.fingerprint
            ),
        })
    }
}

/// A bar over the values of the current pass.
fn show_progress(bar: &ProgressBar, step: KekRotationProgress) {
    if bar.length() != Some(step.of) {
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} secrets {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_length(step.of);
    }
    bar.set_position(step.done);
}
