//! `/api/v1/audit`: the audit log, newest first, with the filters of `keyward audit list`.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use keyward_service::AuditFilter;

use crate::dto::{ApiQuery, AuditListParams, AuditPage, AuditRecordDto, ErrorBody};
use crate::error::ApiError;
use crate::state::AppState;

/// The most records one page may hold.
const MAX_PAGE: u64 = 10_000;

/// Audit records that match every filter given, newest first, one page at a time.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditListParams),
    security(("admin_token" = ["read"])),
    responses((status = 200, body = AuditPage), (status = 401, body = ErrorBody),
        (status = 422, description = "A bad time, `before` or `limit`", body = ErrorBody)))]
pub(crate) async fn list_audit(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<AuditListParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = params.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_input(format!(
            "limit must be 1 to {MAX_PAGE}, not {limit}"
        )));
    }
    if params.before.is_some_and(|b| b < 1) {
        return Err(ApiError::invalid_input(
            "before must be a positive sequence number",
        ));
    }
    let filter = AuditFilter {
        actor: text("actor", params.actor)?,
        subject: text("subject", params.subject)?,
        action: text("action", params.action)?,
        from: rfc3339("since", params.since.as_deref())?,
        until: rfc3339("until", params.until.as_deref())?,
        before: params.before,
        limit,
    };
    let records = state.keyward.audit().search(&filter).await?;
    let next_before = match records.last() {
        Some(last) if records.len() as u64 == limit => Some(last.seq),
        _ => None,
    };
    Ok(Json(AuditPage {
        items: records.into_iter().map(AuditRecordDto::from).collect(),
        next_before,
    }))
}

/// A bound of the API: an RFC 3339 time (the CLI turns its shorter forms into one).
fn rfc3339(what: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|raw| {
        DateTime::parse_from_rfc3339(raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::invalid_input(format!(
                    "{what}: {raw:?} is not an RFC 3339 time such as 2026-12-03T09:30:00Z"
                ))
            })
    })
    .transpose()
}

/// A text filter: at most 300 characters, no control characters; blank is no filter.
fn text(what: &str, raw: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    if raw.chars().count() > 300 || raw.chars().any(char::is_control) {
        return Err(ApiError::invalid_input(format!(
            "{what}: at most 300 characters, without control characters"
        )));
    }
    let trimmed = raw.trim();
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}
