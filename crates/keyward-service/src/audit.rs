//! Reading the audit log: a filter, the records page by page, and the CSV form the console's
//! export and `keyward audit export` share.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use keyward_model::AuditRecord;
use keyward_store::{AuditFilter, Store};

use crate::{Error, Result};

/// Records per page while exporting.
const EXPORT_PAGE: u64 = 1000;

/// The columns of the CSV form, in order.
pub const AUDIT_CSV_HEADER: [&str; 6] = ["seq", "at", "actor", "action", "subject", "detail"];

/// Audit operations.
#[derive(Clone, Copy)]
pub struct Audit<'a> {
    store: &'a Store,
}

impl<'a> Audit<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        Self { store }
    }

    /// Up to `filter.limit` records that match, newest first.
    pub async fn search(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        Ok(self.store.search_audit(filter).await?)
    }

    /// Every record that matches, newest first, at most `max`; the second value says whether
    /// there were more.
    pub async fn export(&self, filter: &AuditFilter, max: u64) -> Result<(Vec<AuditRecord>, bool)> {
        let mut filter = filter.clone();
        let mut out: Vec<AuditRecord> = Vec::new();
        loop {
            filter.limit = EXPORT_PAGE.min(max + 1 - out.len() as u64);
            let page = self.store.search_audit(&filter).await?;
            let full = page.len() as u64 == filter.limit;
            filter.before = page.last().map(|r| r.seq);
            out.extend(page);
            if out.len() as u64 > max {
                out.truncate(usize::try_from(max).unwrap_or(usize::MAX));
                return Ok((out, true));
            }
            if !full {
                return Ok((out, false));
            }
        }
    }
}

/// Reads a time bound of an audit filter: an RFC 3339 time (`2026-12-03T09:30:00Z`), a time
/// without zone taken as UTC (`2026-12-03T09:30`, as an HTML form sends it), or a date (its
/// midnight, UTC). Empty: no bound.
pub fn parse_audit_time(what: &str, raw: &str) -> Result<Option<DateTime<Utc>>> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    if let Some(t) = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
    {
        return Ok(Some(t.and_utc()));
    }
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).map(|t| t.and_utc()));
    }
    Err(Error::InvalidInput(format!(
        "{what}: {raw:?} is not a time; give 2026-12-03, 2026-12-03T09:30 (UTC) or an RFC 3339 \
         time such as 2026-12-03T09:30:00Z"
    )))
}

/// The records as CSV (RFC 4180, with a header row), written with the `csv` crate. A field that
/// a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage
/// return) is prefixed with `'`.
pub fn audit_csv(records: &[AuditRecord]) -> Result<String> {
    audit_csv_part(records, true)
}

/// [`audit_csv`] of one page of a longer export: the header row only when `first`.
pub fn audit_csv_part(records: &[AuditRecord], first: bool) -> Result<String> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Internal {
        source: Box::new(e),
    };
    if first {
        writer.write_record(AUDIT_CSV_HEADER).map_err(fail)?;
    }
    for r in records {
        let fields = [
            r.seq.to_string(),
            r.record.at.to_rfc3339(),
            r.record.actor.clone(),
            r.record.action.clone(),
            r.record.subject.clone(),
            r.record.detail.to_string(),
        ];
        writer
            .write_record(fields.iter().map(|f| defuse(f)))
            .map_err(fail)?;
    }
    let bytes = writer.into_inner().map_err(|e| Error::Internal {
        source: Box::new(e.into_error()),
    })?;
    String::from_utf8(bytes).map_err(|e| Error::Internal {
        source: Box::new(e),
    })
}

fn defuse(field: &str) -> String {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{field}")
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_model::NewAuditRecord;

    fn record(actor: &str, detail: serde_json::Value) -> AuditRecord {
        AuditRecord {
            seq: 7,
            record: NewAuditRecord {
                actor: actor.into(),
                action: "key.assign".into(),
                subject: "key:SN-1".into(),
                detail,
                at: DateTime::parse_from_rfc3339("2026-12-03T09:30:00Z")
                    .unwrap()
                    .with_timezone(&Utc),
            },
        }
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_defuses_formulas() {
        let csv = audit_csv(&[
            record("admin:ada@corp.example", serde_json::json!({ "a": "x,y" })),
            record("=HYPERLINK(\"http://evil\")", serde_json::json!({})),
        ])
        .unwrap();
        let mut lines = csv.split("\r\n");
        assert_eq!(lines.next(), Some("seq,at,actor,action,subject,detail"));
        assert_eq!(
            lines.next(),
            Some(
                "7,2026-12-03T09:30:00+00:00,admin:ada@corp.example,key.assign,key:SN-1,\"{\"\"a\"\":\"\"x,y\"\"}\""
            )
        );
        let evil = lines.next().unwrap();
        assert!(
            evil.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
            "{evil}"
        );
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(reader.records().count(), 2);
    }

    #[test]
    fn audit_times_read_as_documented() {
        let at = |raw| {
            parse_audit_time("since", raw)
                .unwrap()
                .map(|t| t.to_rfc3339())
        };
        assert_eq!(at(""), None);
        assert_eq!(
            at("2026-12-03").as_deref(),
            Some("2026-12-03T00:00:00+00:00")
        );
        assert_eq!(
            at("2026-12-03T09:30").as_deref(),
            Some("2026-12-03T09:30:00+00:00")
        );
        assert_eq!(
            at("2026-12-03T10:30:00+01:00").as_deref(),
            Some("2026-12-03T09:30:00+00:00")
        );
        let bad = parse_audit_time("since", "yesterday")
            .unwrap_err()
            .to_string();
        assert!(bad.contains("since") && bad.contains("yesterday"), "{bad}");
    }
}
