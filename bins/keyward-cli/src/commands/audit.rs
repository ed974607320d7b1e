//! `keyward audit list|export`.

use std::io::Write as _;

use keyward_api::{AuditListParams, AuditPage, AuditRecordDto};
use keyward_model::AuditRecord;
use keyward_service::{AuditFilter, audit_csv_part, parse_audit_time};

use crate::backend::Backend;
use crate::cli::{AuditCommand, AuditFilterArgs, ExportFormat, OutputFormat};
use crate::exit::Failure;
use crate::output;

/// Records read per page while exporting.
const EXPORT_PAGE: u64 = 1000;

pub async fn run(
    backend: &Backend,
    cmd: AuditCommand,
    format: OutputFormat,
) -> Result<(), Failure> {
    match cmd {
        AuditCommand::List { filter, limit } => {
            let page = search(backend, &filter, None, limit).await?;
            match format {
                OutputFormat::Json => output::json(&page.items),
                OutputFormat::Text => output::table(
                    &["SEQ", "AT", "ACTOR", "ACTION", "SUBJECT", "DETAIL"],
                    &page.items.iter().map(row).collect::<Vec<_>>(),
                ),
            }
        }
        AuditCommand::Export { filter, format } => {
            let mut before = None;
            let mut out = std::io::stdout().lock();
            let mut first = true;
            loop {
                let page = search(backend, &filter, before, EXPORT_PAGE).await?;
                let text = match format {
                    ExportFormat::Csv => {
                        let records: Vec<AuditRecord> =
                            page.items.into_iter().map(AuditRecord::from).collect();
                        audit_csv_part(&records, first)?
                    }
                    ExportFormat::Jsonl => page
                        .items
                        .iter()
                        .map(|r| serde_json::to_string(r).unwrap_or_default() + "\n")
                        .collect(),
                };
                if out.write_all(text.as_bytes()).is_err() {
                    // The reader went away (`| head`): stop quietly.
                    return Ok(());
                }
                first = false;
                match page.next_before {
                    Some(seq) => before = Some(seq),
                    None => break,
                }
            }
        }
    }
    Ok(())
}

/// One page of the records that match, newest first, older than `before`.
async fn search(
    backend: &Backend,
    args: &AuditFilterArgs,
    before: Option<i64>,
    limit: u64,
) -> Result<AuditPage, Failure> {
    match backend {
        Backend::Direct(k) => {
            let filter = filter_of(args, before, limit)?;
            let records = k.audit().search(&filter).await?;
            let next_before = match records.last() {
                Some(last) if records.len() as u64 == limit => Some(last.seq),
                _ => None,
            };
            Ok(AuditPage {
                items: records.into_iter().map(AuditRecordDto::from).collect(),
                next_before,
            })
        }
        Backend::Remote(r) => {
            // The same filter as the direct mode, sent in the API's forms (RFC 3339 times).
            let filter = filter_of(args, before, limit)?;
            let params = AuditListParams {
                actor: filter.actor,
                subject: filter.subject,
                action: filter.action,
                since: filter.from.map(|t| t.to_rfc3339()),
                until: filter.until.map(|t| t.to_rfc3339()),
                before,
                limit: Some(limit),
            };
            r.get(&["audit"], &params).await
        }
    }
}

fn filter_of(
    args: &AuditFilterArgs,
    before: Option<i64>,
    limit: u64,
) -> Result<AuditFilter, Failure> {
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
        before,
        limit,
    })
}

fn row(r: &AuditRecordDto) -> Vec<String> {
    vec![
        r.seq.to_string(),
        r.at.to_rfc3339(),
        r.actor.clone(),
        r.action.clone(),
        r.subject.clone(),
        r.detail.to_string(),
    ]
}
