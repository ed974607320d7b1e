//! `/api/v1/audit`: the audit log, newest first, with the filters of `keyward audit list`.

use axum::Json;
use axum::extract::State;
use keyward_service::{AuditFilter, parse_audit_time};

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
    let given = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let filter = AuditFilter {
        actor: given(params.actor),
        subject: given(params.subject),
        action: given(params.action),
        from: parse_audit_time("since", params.since.as_deref().unwrap_or_default())?,
        until: parse_audit_time("until", params.until.as_deref().unwrap_or_default())?,
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
