//! `keyward audit list|export`.

use std::io::Write as _;

use keyward_model::AuditRecord;
use keyward_service::{AuditFilter, Keyward, audit_csv_part, parse_audit_time};

use crate::cli::{AuditCommand, AuditFilterArgs, ExportFormat, OutputFormat};
use crate::exit::Failure;
use crate::output;

/// Records read per page while exporting.
const EXPORT_PAGE: u64 = 1000;

pub async fn run(
    keyward: &Keyward,
    cmd: AuditCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    let audit = keyward.audit();
    match cmd {
        AuditCommand::List { filter, limit } => {
            let records = audit.search(&filter_of(&filter, limit)?).await?;
            match format {
                OutputFormat::Json => output::json(&records),
                OutputFormat::Text => output::table(
                    &["SEQ", "AT", "ACTOR", "ACTION", "SUBJECT", "DETAIL"],
                    &records.iter().map(row).collect::<Vec<_>>(),
                ),
            }
        }
        AuditCommand::Export { filter, format } => {
            let mut filter = filter_of(&filter, EXPORT_PAGE)?;
            let mut out = std::io::stdout().lock();
            let mut first = true;
            loop {
                let page = audit.search(&filter).await?;
                let text = match format {
                    ExportFormat::Csv => audit_csv_part(&page, first)?,
                    ExportFormat::Jsonl => page
                        .iter()
                        .map(|r| serde_json::to_string(r).unwrap_or_default() + "\n")
                        .collect(),
                };
                if out.write_all(text.as_bytes()).is_err() {
                    // The reader went away (`| head`): stop quietly.
                    return Ok(());
                }
                first = false;
                match page.last() {
                    Some(last) if page.len() as u64 == EXPORT_PAGE => {
                        filter.before = Some(last.seq);
                    }
                    _ => break,
                }
            }
        }
    }
    Ok(())
}

fn filter_of(args: &AuditFilterArgs, limit: u64) -> Result<AuditFilter, Failure> {
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Ok(AuditFilter {
        actor: given(&args.actor),
        subject: given(&args.subject),
        action: given(&args.action),
        from: parse_audit_time("--since", args.since.as_deref().unwrap_or_default())?,
        until: parse_audit_time("--until", args.until.as_deref().unwrap_or_default())?,
        before: None,
        limit,
    })
}

fn row(r: &AuditRecord) -> Vec<String> {
    vec![
        r.seq.to_string(),
        r.record.at.to_rfc3339(),
        r.record.actor.clone(),
        r.record.action.clone(),
        r.record.subject.clone(),
        r.record.detail.to_string(),
    ]
}
