//! The audit log: filter by actor, subject, action and time; export as CSV.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use keyward_service::{AuditFilter, Error, audit_csv, parse_audit_time};
use serde::Deserialize;

use super::{failed, fmt_time, query_string};
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

impl Params {
    fn filter(&self, limit: u64) -> Result<AuditFilter, Error> {
        let given = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(AuditFilter {
            actor: given(&self.actor),
            subject: given(&self.subject),
            action: given(&self.action),
            from: parse_audit_time("from", &self.from)?,
            until: parse_audit_time("until", &self.until)?,
            before: self.before,
            limit,
        })
    }

    fn query(&self, before: Option<i64>) -> String {
        let before = before.map(|b| b.to_string()).unwrap_or_default();
        query_string(&[
            ("actor", self.actor.as_str()),
            ("subject", &self.subject),
            ("action", &self.action),
            ("from", &self.from),
            ("until", &self.until),
            ("before", &before),
        ])
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
        Ok(filter) => state.keyward.audit().search(&filter).await,
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

pub(crate) async fn export(
    State(state): State<AppState>,
    _signed: Signed,
    Query(p): Query<Params>,
) -> Response {
    let csv = match p.filter(0) {
        Ok(filter) => match state.keyward.audit().export(&filter, EXPORT_MAX).await {
            Ok((records, _more)) => audit_csv(&records),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match csv {
        Ok(csv) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"keyward-audit.csv\"",
                ),
            ],
            csv,
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
