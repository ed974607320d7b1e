//! Invitations: state of each, resend, revoke.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use keyward_service::Error;
use serde::Deserialize;

use super::{failed, fmt_time};
use crate::console::frame::{Checked, Flash, Frame, Signed, after_action, render};
use crate::state::AppState;

struct Row {
    id: String,
    employee: String,
    recipient: String,
    state: String,
    attempts: u32,
    last_error: String,
    created: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "invitations.html")]
struct Page {
    frame: Frame,
    rows: Vec<Row>,
}

pub(crate) async fn list(State(state): State<AppState>, signed: Signed, flash: Flash) -> Response {
    let frame = signed.frame("invitations", flash);
    let all = match state.keyward.mail().invitations().await {
        Ok(all) => all,
        Err(e) => return failed(frame, e),
    };
    let rows = all
        .into_iter()
        .map(|i| Row {
            id: i.invitation.id.to_string(),
            employee: i.invitation.employee_id.to_string(),
            recipient: i.recipient.unwrap_or_default(),
            state: i.state.to_owned(),
            attempts: i.attempts,
            last_error: i.last_error.unwrap_or_default(),
            created: fmt_time(i.invitation.created_at),
            expires: fmt_time(i.invitation.expires_at),
        })
        .collect();
    render(&Page { frame, rows })
}

#[derive(Deserialize)]
pub(crate) struct ActForm {
    /// The console page to go back to (only paths under `/console/` are followed).
    #[serde(default)]
    back: String,
}

pub(crate) async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    Checked { signed, form }: Checked<ActForm>,
) -> Response {
    let mail = state.keyward.mail();
    let outcome = match action.as_str() {
        "resend" => mail.resend(&id, &signed.actor()).await,
        "revoke" => mail.revoke(&id, &signed.actor()).await,
        other => Err(Error::InvalidInput(format!(
            "no invitation action named {other:?}"
        ))),
    }
    .map(|i| format!("invitation {}: {}", i.invitation.id, i.state));
    let back = if form.back.starts_with("/console/") && !form.back.contains("//") {
        form.back.as_str()
    } else {
        "/console/invitations"
    };
    after_action(back, outcome)
}
