//! The dashboard: counts, stalled rotations, and the last run of each directory.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{failed, fmt_time};
use crate::console::frame::{Flash, Frame, Signed, render};
use crate::state::AppState;

/// The last run of a directory, as the dashboard and the sync page show it.
pub(crate) struct LastRun {
    pub directory: String,
    pub id: Option<String>,
    pub started: String,
    pub mode: String,
    pub status: String,
    pub read: u64,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    frame: Frame,
    employees: u64,
    employees_from_directory: u64,
    keys: Vec<(String, u64)>,
    workstations_pending: u64,
    stalled: u64,
    in_flight: u64,
    outbox: Vec<(String, u64)>,
    runs: Vec<LastRun>,
}

/// The newest run of each configured directory.
pub(crate) async fn last_runs(state: &AppState) -> keyward_service::Result<Vec<LastRun>> {
    let runs = state.keyward.sync().runs(500).await?;
    Ok(state
        .keyward
        .settings()
        .directories
        .iter()
        .map(|d| {
            let run = runs.iter().find(|r| r.directory == d.name);
            LastRun {
                directory: d.name.clone(),
                id: run.map(|r| r.id.to_string()),
                started: run.map(|r| fmt_time(r.started_at)).unwrap_or_default(),
                mode: run.map(|r| r.mode.clone()).unwrap_or_default(),
                status: run.map(|r| r.status.clone()).unwrap_or_default(),
                read: run.and_then(|r| r.report["read"].as_u64()).unwrap_or(0),
            }
        })
        .collect())
}

pub(crate) async fn page(State(state): State<AppState>, signed: Signed, flash: Flash) -> Response {
    let frame = signed.frame("dashboard", flash);
    let k = &state.keyward;
    let overview = match k.overview().await {
        Ok(o) => o,
        Err(e) => return failed(frame, e),
    };
    let stalled = match k.stalled_rotations().await {
        Ok(n) => n,
        Err(e) => return failed(frame, e),
    };
    let runs = match last_runs(&state).await {
        Ok(r) => r,
        Err(e) => return failed(frame, e),
    };
    render(&DashboardPage {
        frame,
        employees: overview.employees,
        employees_from_directory: overview.employees_from_directory,
        keys: overview.keys.into_iter().collect(),
        workstations_pending: overview.workstations.get("pending").copied().unwrap_or(0),
        stalled,
        in_flight: overview
            .rotations
            .iter()
            .filter(|(state, _)| state.as_str() != "idle")
            .map(|(_, n)| n)
            .sum(),
        outbox: overview.outbox.into_iter().collect(),
        runs,
    })
}
