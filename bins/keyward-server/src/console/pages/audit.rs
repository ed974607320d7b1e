//! The audit log: filter by actor, subject, action and time; export as CSV.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use keyward_model::AuditRecord;
use keyward_service::{AuditFilter, Error};
use serde::Deserialize;

use super::{failed, fmt_time, percent_encode};
use crate::console::frame::{Flash, Frame, Signed, render};
use crate::error::ApiError;
use crate::state::AppState;

const PAGE: u64 = 100;
/// The most records one CSV export holds.
const EXPORT_MAX: u64 = 100_000;

#[derive(Deserialize, Default)]
pub(crate) struct Params {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    before: Option<i64>,
}

fn time(field: &str, raw: &str) -> Result<Option<DateTime<Utc>>, Error> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
        .map(|t| Some(t.and_utc()))
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "{field}: {raw:?} is not a time such as 2026-12-03T09:30 (UTC)"
            ))
        })
}

impl Params {
    fn filter(&self, limit: u64) -> Result<AuditFilter, Error> {
        let given = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(AuditFilter {
            actor: given(&self.actor),
            subject: given(&self.subject),
            action: given(&self.action),
            from: time("from", &self.from)?,
            until: time("until", &self.until)?,
            before: self.before,
            limit,
        })
    }

    fn query(&self, before: Option<i64>) -> String {
        let before = before.map(|b| b.to_string()).unwrap_or_default();
        [
            ("actor", self.actor.as_str()),
            ("subject", &self.subject),
            ("action", &self.action),
            ("from", &self.from),
            ("until", &self.until),
            ("before", &before),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct Page {
    frame: Frame,
    actor: String,
    subject: String,
    action: String,
    from: String,
    until: String,
    query: String,
    rows: Vec<(i64, String, String, String, String, String)>,
    next: Option<String>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    signed: Signed,
    flash: Flash,
    Query(p): Query<Params>,
) -> Response {
    let frame = signed.frame("audit", flash);
    let records = match p.filter(PAGE) {
        Ok(filter) => state.keyward.audit(&filter).await,
        Err(e) => Err(e),
    };
    let records = match records {
        Ok(r) => r,
        Err(e) => return failed(frame, e),
    };
    let next = (records.len() as u64 == PAGE)
        .then(|| records.last().map(|r| p.query(Some(r.seq))))
        .flatten();
    render(&Page {
        frame,
        query: p.query(None),
        rows: records
            .into_iter()
            .map(|r| {
                (
                    r.seq,
                    fmt_time(r.record.at),
                    r.record.actor,
                    r.record.action,
                    r.record.subject,
                    r.record.detail.to_string(),
                )
            })
            .collect(),
        next,
        actor: p.actor,
        subject: p.subject,
        action: p.action,
        from: p.from,
        until: p.until,
    })
}

/// One CSV field, quoted when it must be (RFC 4180), with a leading `=`, `+`, `-` or `@`
/// prefixed by `'` so that a spreadsheet does not run it as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn csv_line(r: &AuditRecord) -> String {
    [
        r.seq.to_string(),
        r.record.at.to_rfc3339(),
        r.record.actor.clone(),
        r.record.action.clone(),
        r.record.subject.clone(),
        r.record.detail.to_string(),
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
}

pub(crate) async fn export(
    State(state): State<AppState>,
    _signed: Signed,
    Query(mut p): Query<Params>,
) -> Response {
    let mut out = String::from("seq,at,actor,action,subject,detail\r\n");
    let mut total = 0;
    loop {
        let filter = match p.filter(1000) {
            Ok(f) => f,
            Err(e) => return ApiError::from(e).into_response(),
        };
        let records = match state.keyward.audit(&filter).await {
            Ok(r) => r,
            Err(e) => return ApiError::from(e).into_response(),
        };
        for r in &records {
            out.push_str(&csv_line(r));
            out.push_str("\r\n");
        }
        total += records.len() as u64;
        match records.last() {
            Some(last) if records.len() == 1000 && total < EXPORT_MAX => p.before = Some(last.seq),
            _ => break,
        }
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"keyward-audit.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
