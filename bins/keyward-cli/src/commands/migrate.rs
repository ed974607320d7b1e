//! `keyward migrate`.

use keyward_service::{Keyward, Settings};
use serde_json::json;

use crate::cli::OutputFormat;
use crate::exit::Failure;
use crate::output;

pub async fn run(settings: &Settings, format: OutputFormat) -> Result<(), Failure> {
    let keyward = Keyward::connect(settings).await?;
    let report = keyward.migrate().await?;
    match format {
        OutputFormat::Json => output::json(&json!({
            "backend": keyward.backend(),
            "already_applied": report.already_applied,
            "applied_now": report.applied_now,
        })),
        OutputFormat::Text => {
            if report.applied_now.is_empty() {
                println!(
                    "schema up to date ({} migrations applied, {})",
                    report.already_applied.len(),
                    keyward.backend()
                );
            } else {
                for name in &report.applied_now {
                    println!("applied {name}");
                }
            }
        }
    }
    Ok(())
}
