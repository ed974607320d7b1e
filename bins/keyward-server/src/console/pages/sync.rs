//! Sync with Active Directory: test a connection, preview (dry run), sync now, a run's report,
//! confirming held removals, the run history.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use keyward_service::{DirectoryTestReport, SyncOptions};
use serde::Deserialize;
use serde_json::Value;

use super::dashboard::{LastRun, last_runs};
use super::{failed, fmt_time};
use crate::console::frame::{
    Checked, Flash, Frame, NoFields, Notice, Signed, after_action, render,
};
use crate::state::AppState;

struct DirectoryRow {
    name: String,
    urls: String,
    last: LastRun,
}

struct RunRow {
    id: String,
    started: String,
    directory: String,
    mode: String,
    dry_run: bool,
    status: String,
    read: u64,
    held: u64,
}

#[derive(Template)]
#[template(path = "sync.html")]
struct SyncPage {
    frame: Frame,
    directories: Vec<DirectoryRow>,
    runs: Vec<RunRow>,
    test: Option<DirectoryTestReport>,
}

async fn sync_page(state: &AppState, frame: Frame, test: Option<DirectoryTestReport>) -> Response {
    let k = &state.keyward;
    let last = match last_runs(state).await {
        Ok(l) => l,
        Err(e) => return failed(frame, e),
    };
    let directories = k
        .settings()
        .directories
        .iter()
        .zip(last)
        .map(|(d, last)| DirectoryRow {
            name: d.name.clone(),
            urls: d.urls.join(" "),
            last,
        })
        .collect();
    let runs = match k.sync().runs(50).await {
        Ok(r) => r,
        Err(e) => return failed(frame, e),
    };
    let runs = runs
        .into_iter()
        .map(|r| RunRow {
            id: r.id.to_string(),
            started: fmt_time(r.started_at),
            directory: r.directory,
            mode: r.mode,
            dry_run: r.dry_run,
            status: r.status,
            read: r.report["read"].as_u64().unwrap_or(0),
            held: r.report["held"].as_u64().unwrap_or(0),
        })
        .collect();
    render(&SyncPage {
        frame,
        directories,
        runs,
        test,
    })
}

pub(crate) async fn page(State(state): State<AppState>, signed: Signed, flash: Flash) -> Response {
    sync_page(&state, signed.frame("sync", flash), None).await
}

#[derive(Deserialize)]
pub(crate) struct RunForm {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    full: bool,
}

/// Tests the connection (read-only) and shows the report on the sync page.
pub(crate) async fn test(
    State(state): State<AppState>,
    Path(directory): Path<String>,
    Checked { signed, form: _ }: Checked<RunForm>,
) -> Response {
    let frame = signed.frame("sync", Flash(None));
    match state.keyward.directories().test(&directory).await {
        Ok(report) => {
            let frame = if report.problems.is_empty() {
                frame.with_notice(Notice::ok(format!(
                    "connected to {} as {}{}",
                    report.url,
                    report.bound_as,
                    report.warnings.iter().fold(String::new(), |mut text, w| {
                        text.push_str("; warning: ");
                        text.push_str(w);
                        text
                    })
                )))
            } else {
                frame.with_notice(Notice {
                    kind: "error".into(),
                    code: Some("directory".into()),
                    message: format!(
                        "connected to {} as {}, but: {}",
                        report.url,
                        report.bound_as,
                        report.problems.join("; ")
                    ),
                })
            };
            sync_page(&state, frame, Some(report)).await
        }
        Err(e) => sync_page(&state, frame.with_notice(Notice::error(e)), None).await,
    }
}

/// Runs a sync (or a dry run) now and shows its report.
pub(crate) async fn run(
    State(state): State<AppState>,
    Path(directory): Path<String>,
    Checked { signed, form }: Checked<RunForm>,
) -> Response {
    let options = SyncOptions {
        full: form.full,
        dry_run: form.dry_run,
        confirm_removals_of: None,
    };
    run_and_show(&state, &signed, &directory, &options).await
}

async fn run_and_show(
    state: &AppState,
    signed: &Signed,
    directory: &str,
    options: &SyncOptions,
) -> Response {
    match state
        .keyward
        .sync()
        .run(directory, options, &signed.actor(), &|_| {})
        .await
    {
        Ok(report) => after_action(
            &format!("/console/sync/runs/{}", report.run_id),
            Ok(format!(
                "{}{} of {}: {} read, {} created, {} updated, {} missing, {} held",
                if report.dry_run { "dry run " } else { "" },
                report.mode.as_str(),
                report.directory,
                report.read,
                report.created,
                report.updated,
                report.missing,
                report.held
            )),
        ),
        Err(e) => after_action("/console/sync", Err(e)),
    }
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    frame: Frame,
    id: String,
    directory: String,
    started: String,
    mode: String,
    dry_run: bool,
    status: String,
    error: Option<String>,
    counts: Vec<(&'static str, u64)>,
    held_accounts: Vec<String>,
    outcomes: Vec<OutcomeRow>,
    conflicts: Vec<String>,
    skipped: Vec<String>,
}

struct OutcomeRow {
    change: String,
    subject: String,
    dn: String,
    reasons: String,
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

pub(crate) async fn run_page(
    State(state): State<AppState>,
    signed: Signed,
    flash: Flash,
    Path(id): Path<String>,
) -> Response {
    let frame = signed.frame("sync", flash);
    let run = match state.keyward.sync().show(&id).await {
        Ok(r) => r,
        Err(e) => return failed(frame, e),
    };
    let r = &run.report;
    let count = |name| r[name].as_u64().unwrap_or(0);
    let counts = [
        "read",
        "created",
        "updated",
        "unchanged",
        "employees_created",
        "employees_updated",
        "merged",
        "splits",
        "missing",
        "removed",
        "held",
        "not_mergeable",
    ]
    .into_iter()
    .map(|name| (name, count(name)))
    .collect();
    let outcomes = r["outcomes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| OutcomeRow {
            change: o["change"].as_str().unwrap_or_default().to_owned(),
            subject: o["subject"].as_str().unwrap_or_default().to_owned(),
            dn: o["dn"].as_str().unwrap_or_default().to_owned(),
            reasons: strings(&o["reasons"]).join("; "),
        })
        .collect();
    let conflicts = r["conflicts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{}: {}",
                c["email"].as_str().unwrap_or_default(),
                strings(&c["accounts"]).join(", ")
            )
        })
        .collect();
    let skipped = r["skipped"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            format!(
                "{}: {}",
                s["dn"].as_str().unwrap_or_default(),
                s["reason"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let held_accounts = if run.dry_run {
        Vec::new()
    } else {
        strings(&r["held_accounts"])
    };
    render(&RunPage {
        frame,
        id: run.id.to_string(),
        directory: run.directory,
        started: fmt_time(run.started_at),
        mode: run.mode,
        dry_run: run.dry_run,
        status: run.status,
        error: run.error,
        counts,
        held_accounts,
        outcomes,
        conflicts,
        skipped,
    })
}

/// Applies the removals a run held (a new run of the same directory, confirming them).
pub(crate) async fn confirm(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Checked { signed, form: _ }: Checked<NoFields>,
) -> Response {
    let run = match state.keyward.sync().show(&id).await {
        Ok(r) => r,
        Err(e) => return after_action("/console/sync", Err(e)),
    };
    let options = SyncOptions {
        full: false,
        dry_run: false,
        confirm_removals_of: Some(run.id),
    };
    run_and_show(&state, &signed, &run.directory, &options).await
}
