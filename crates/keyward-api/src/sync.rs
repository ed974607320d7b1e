//! `/api/v1/directories/{name}/sync` and `/api/v1/sync/runs`.

use chrono::{DateTime, Utc};
use keyward_service::{RunMode, RunStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// How to run a sync.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SyncRequest {
    /// Plan and report only; change nothing.
    pub dry_run: bool,
    /// Read everything even when an incremental run is possible.
    pub full: bool,
    /// Apply the removals that this earlier run of the directory held (the removal
    /// threshold).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm_removals_of: Option<uuid::Uuid>,
}

/// Run list parameters.
#[derive(Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunListParams {
    /// How many runs, newest first (default 50, at most 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// One run in the list of runs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunSummary {
    /// Run id (`GET /api/v1/sync/runs/{id}` has its report).
    pub id: uuid::Uuid,
    /// Directory.
    pub directory: String,
    /// How it read the directory.
    pub mode: RunMode,
    /// Planned only.
    pub dry_run: bool,
    /// Where it is.
    pub status: RunStatus,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End, once it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub error: Option<String>,
    /// What it changed (planned, for a dry run).
    pub changes: RunChangesDto,
}

/// The counts of a run's report.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct RunChangesDto {
    /// Employees created.
    pub created: u64,
    /// Employees or accounts updated.
    pub updated: u64,
    /// Accounts newly out of scope.
    pub missing: u64,
    /// Accounts removed.
    pub removed: u64,
    /// Removals held by the removal threshold.
    pub held: u64,
}

impl RunChangesDto {
    /// The counts of a stored report (a count the report lacks is 0).
    pub fn of_report(report: &serde_json::Value) -> Self {
        let n = |k: &str| report[k].as_u64().unwrap_or(0);
        Self {
            created: n("created"),
            updated: n("updated"),
            missing: n("missing"),
            removed: n("removed"),
            held: n("held"),
        }
    }
}

impl RunSummary {
    /// The summary of a stored run; `Err` names the field no keyward wrote (a corrupt row).
    pub fn from_record(r: &keyward_service::SyncRunRecord) -> Result<Self, &'static str> {
        Ok(Self {
            mode: RunMode::parse(&r.mode).ok_or("mode")?,
            status: RunStatus::parse(&r.status).ok_or("status")?,
            id: r.id,
            directory: r.directory.clone(),
            dry_run: r.dry_run,
            started_at: r.started_at,
            finished_at: r.finished_at,
            error: r.error.clone(),
            changes: RunChangesDto::of_report(&r.report),
        })
    }
}
