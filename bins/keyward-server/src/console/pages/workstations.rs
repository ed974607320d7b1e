//! Workstations: pending ones with their fingerprint, approve, revoke.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use keyward_service::Error;
use serde::Deserialize;

use super::{failed, fmt_time};
use crate::console::frame::{Checked, Flash, Frame, NoFields, Signed, after_action, render};
use crate::state::AppState;

struct Row {
    id: String,
    name: String,
    status: String,
    fingerprint: String,
    source: String,
    created: String,
    last_seen: String,
}

#[derive(Template)]
#[template(path = "workstations.html")]
struct Page {
    frame: Frame,
    rows: Vec<Row>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ListParams {
    after: Option<String>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    signed: Signed,
    flash: Flash,
    Query(p): Query<ListParams>,
) -> Response {
    let frame = signed.frame("workstations", flash);
    let page = match state.keyward.agent().list(p.after, Some(100)).await {
        Ok(page) => page,
        Err(e) => return failed(frame, e),
    };
    let mut rows: Vec<Row> = page
        .items
        .iter()
        .map(|w| Row {
            id: w.id.to_string(),
            name: w.name.clone(),
            status: w.status.as_str().to_owned(),
            fingerprint: w.credential_fingerprint.clone(),
            source: w.source_address.clone().unwrap_or_default(),
            created: fmt_time(w.created_at),
            last_seen: w.last_seen_at.map(fmt_time).unwrap_or_default(),
        })
        .collect();
    // Pending first: they are what an administrator comes here for.
    rows.sort_by_key(|r| r.status != "pending");
    render(&Page {
        frame,
        rows,
        next: page.next_cursor.map(|c| c.as_str().to_owned()),
    })
}

pub(crate) async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    Checked { signed, form: _ }: Checked<NoFields>,
) -> Response {
    let agent = state.keyward.agent();
    let outcome = match action.as_str() {
        "approve" => agent.approve(&id, &signed.actor()).await,
        "revoke" => agent.revoke(&id, &signed.actor()).await,
        other => Err(Error::InvalidInput(format!(
            "no workstation action named {other:?}"
        ))),
    }
    .map(|w| format!("workstation {} is {}", w.name, w.status.as_str()));
    after_action("/console/workstations", outcome)
}
