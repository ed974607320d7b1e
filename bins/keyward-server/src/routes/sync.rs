//! `/api/v1/directories/{name}/sync` and `/api/v1/sync/runs`.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use keyward_service::{SyncOptions, SyncReport};

use crate::auth::Authenticated;
use crate::dto::{ApiJson, ApiPath, ApiQuery, ErrorBody, RunListParams, RunSummary, SyncRequest};
use crate::error::ApiError;
use crate::state::AppState;

/// Runs a sync of one directory now and returns its report (counts, per-entry outcomes,
/// conflicts, skipped entries).
#[utoipa::path(post, path = "/api/v1/directories/{name}/sync", tag = "sync", request_body = SyncRequest,
    params(("name" = String, Path, description = "Directory name")),
    security(("admin_token" = ["sync"])),
    responses(
        (status = 200, description = "The run report", body = SyncReport),
        (status = 401, body = ErrorBody), (status = 404, description = "No such directory, or `confirm_removals_of` names no run of it", body = ErrorBody),
        (status = 409, description = "`lease_busy`: a sync of this directory is already running", body = ErrorBody),
        (status = 502, description = "The directory failed (unreachable, TLS, bind, search); nothing was changed", body = ErrorBody),
    ))]
pub(crate) async fn sync_directory(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<SyncRequest>,
) -> Result<Json<SyncReport>, ApiError> {
    let options = SyncOptions {
        full: body.full,
        dry_run: body.dry_run,
        confirm_removals_of: body.confirm_removals_of,
    };
    let report = state
        .keyward
        .sync()
        .run(&name, &options, &auth.actor(), &|_| {})
        .await?;
    Ok(Json(report))
}

/// A stored run whose mode or status no keyward wrote.
fn corrupt_run(id: uuid::Uuid, what: &str) -> ApiError {
    ApiError::from(keyward_service::Error::Internal {
        source: format!("stored sync run {id} has an unknown {what}").into(),
    })
}

/// Recent sync runs, newest first.
#[utoipa::path(get, path = "/api/v1/sync/runs", tag = "sync", params(RunListParams),
    security(("admin_token" = ["read"])),
    responses((status = 200, body = [RunSummary]), (status = 401, body = ErrorBody)))]
pub(crate) async fn list_runs(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<RunListParams>,
) -> Result<Json<Vec<RunSummary>>, ApiError> {
    let limit = params.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid_input(format!(
            "limit must be 1 to 1000, not {limit}"
        )));
    }
    let runs = state.keyward.sync().runs(limit).await?;
    runs.iter()
        .map(|r| RunSummary::from_record(r).map_err(|what| corrupt_run(r.id, what)))
        .collect::<Result<Vec<_>, ApiError>>()
        .map(Json)
}

/// One run's full report.
#[utoipa::path(get, path = "/api/v1/sync/runs/{id}", tag = "sync",
    params(("id" = uuid::Uuid, Path, description = "Run id")),
    security(("admin_token" = ["read"])),
    responses((status = 200, body = SyncReport), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn get_run(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SyncReport>, ApiError> {
    let run = state.keyward.sync().show(&id).await?;
    serde_json::from_value(run.report)
        .map(Json)
        .map_err(|_| corrupt_run(run.id, "report"))
}
