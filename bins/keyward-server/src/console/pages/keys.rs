//! Keys: the list by status, import by paste or CSV upload, one key with its history and a
//! button for each operation its status allows (asked of the transition table).

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::Response;
use keyward_keys::{EventKind, KeyStatus, admin_operations};
use keyward_service::{Error, KeyView};
use serde::Deserialize;

use super::{failed, fmt_time};
use crate::console::frame::{Checked, Flash, Frame, Notice, Signed, after_action, render};
use crate::state::AppState;

struct KeyRow {
    serial: String,
    status: String,
    owner: String,
    owner_id: Option<String>,
    reason: String,
    updated: String,
}

impl KeyRow {
    fn of(v: &KeyView) -> Self {
        Self {
            serial: v.key.serial.to_string(),
            status: v.key.status.as_str().to_owned(),
            owner: v
                .owner
                .as_ref()
                .map(|o| o.display_name.as_str().to_owned())
                .unwrap_or_default(),
            owner_id: v.owner.as_ref().map(|o| o.id.to_string()),
            reason: v
                .key
                .reason
                .map(|r| r.as_str().to_owned())
                .unwrap_or_default(),
            updated: fmt_time(v.key.updated_at),
        }
    }
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    frame: Frame,
    statuses: Vec<&'static str>,
    status: String,
    keys: Vec<KeyRow>,
    next: Option<String>,
}

/// Keys shown per page of the console's list.
const KEYS_PER_PAGE: u32 = 50;

#[derive(Deserialize)]
pub(crate) struct ListParams {
    #[serde(default)]
    status: String,
    after: Option<String>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    signed: Signed,
    flash: Flash,
    Query(p): Query<ListParams>,
) -> Response {
    let frame = signed.frame("keys", flash);
    let status = p.status.trim();
    let page = match state
        .keyward
        .keys()
        .list(
            (!status.is_empty()).then_some(status),
            p.after.clone(),
            Some(KEYS_PER_PAGE),
        )
        .await
    {
        Ok(k) => k,
        Err(e) => return failed(frame, e),
    };
    let next = page.next_cursor.map(|c| {
        let query = super::query_string(&[("status", status), ("after", c.as_str())]);
        format!("/console/keys?{query}")
    });
    render(&KeysPage {
        frame,
        statuses: KeyStatus::ALL.iter().map(|s| s.as_str()).collect(),
        status: status.to_owned(),
        keys: page.items.iter().map(KeyRow::of).collect(),
        next,
    })
}

/// Imports the pasted and uploaded serials in one go; nothing is imported when one is bad.
pub(crate) async fn import(
    State(state): State<AppState>,
    signed: Signed,
    mut multipart: Multipart,
) -> Response {
    let mut csrf = String::new();
    let mut serials: Vec<String> = Vec::new();
    let mut problem = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let Ok(bytes) = field.bytes().await else {
                    return after_action(
                        "/console/keys",
                        Err(Error::InvalidInput(
                            "the upload did not arrive whole".into(),
                        )),
                    );
                };
                match name.as_str() {
                    "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
                    "serials" | "file" if !bytes.iter().all(u8::is_ascii_whitespace) => {
                        // The same reader as `keyward keys import --file`.
                        match keyward_keys::parse_serial_list(&bytes) {
                            Ok(list) => serials.extend(list.iter().map(ToString::to_string)),
                            Err(e) => problem = Some(Error::from(e)),
                        }
                    }
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) => {
                return after_action(
                    "/console/keys",
                    Err(Error::InvalidInput(format!("the form did not read: {e}"))),
                );
            }
        }
    }
    if let Err(refused) = signed.check_csrf(&csrf) {
        return refused;
    }
    let outcome = if let Some(problem) = problem {
        Err(problem)
    } else if serials.is_empty() {
        Err(Error::InvalidInput(
            "paste serials or choose a file to import".into(),
        ))
    } else {
        state
            .keyward
            .keys()
            .import(&serials, &signed.actor())
            .await
            .map(|imported| format!("imported {} key(s)", imported.len()))
    };
    after_action("/console/keys", outcome)
}

struct Operation {
    name: &'static str,
    label: &'static str,
    needs_reason: bool,
    reasons: Vec<&'static str>,
    needs_description: bool,
    danger: bool,
}

fn operation(kind: EventKind) -> Option<Operation> {
    let op = |name, label, reasons: &[&'static str], needs_description, danger| {
        Some(Operation {
            name,
            label,
            needs_reason: !reasons.is_empty(),
            reasons: reasons.to_vec(),
            needs_description,
            danger,
        })
    };
    match kind {
        EventKind::CancelIssuance => op("cancel", "Cancel issuance", &[], false, false),
        EventKind::Lock => op("lock", "Lock", &[], false, false),
        EventKind::Suspend => op("suspend", "Suspend", &[], true, false),
        EventKind::Unlock => op("unlock", "Unlock", &[], false, false),
        EventKind::Deactivate => op(
            "deactivate",
            "Deactivate",
            &["withdrawal", "broken", "lost", "stolen", "admin"],
            false,
            true,
        ),
        EventKind::MarkCompromised => op(
            "compromise",
            "Mark compromised",
            &["lost", "stolen"],
            false,
            true,
        ),
        EventKind::Delete => op("delete", "Delete", &[], false, true),
        // Assigning starts from the employee's page, where the owner is chosen; the rest are
        // not an administrator's to start.
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "key.html")]
struct KeyPage {
    frame: Frame,
    serial: String,
    status: String,
    reason: String,
    owner: String,
    owner_id: Option<String>,
    description: String,
    wipe_pending: bool,
    operations: Vec<Operation>,
    history: Vec<(String, String, String, String)>,
    activation_code: Option<String>,
}

pub(crate) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    flash: Flash,
    Path(serial): Path<String>,
) -> Response {
    key_page(&state, signed.frame("keys", flash), &serial, None).await
}

async fn key_page(
    state: &AppState,
    frame: Frame,
    serial: &str,
    activation_code: Option<String>,
) -> Response {
    let keys = state.keyward.keys();
    let view = match keys.show(serial).await {
        Ok(v) => v,
        Err(e) => return failed(frame, e),
    };
    let history = keys
        .history(serial)
        .await
        .unwrap_or_default()
        .into_iter()
        .rev()
        .map(|r| {
            (
                fmt_time(r.record.at),
                r.record.actor,
                r.record.action,
                r.record.detail.to_string(),
            )
        })
        .collect();
    let row = KeyRow::of(&view);
    render(&KeyPage {
        frame,
        operations: admin_operations(view.key.status, view.key.facts())
            .into_iter()
            .filter_map(operation)
            .collect(),
        serial: row.serial,
        status: row.status,
        reason: row.reason,
        owner: row.owner,
        owner_id: row.owner_id,
        description: view.key.description.clone().unwrap_or_default(),
        wipe_pending: view.key.wipe_pending,
        history,
        activation_code,
    })
}

#[derive(Deserialize)]
pub(crate) struct OperationForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    description: String,
}

/// Runs one operation; one that issues an activation code answers the key page with it.
pub(crate) async fn operate(
    State(state): State<AppState>,
    Path((serial, operation)): Path<(String, String)>,
    Checked { signed, form }: Checked<OperationForm>,
) -> Response {
    let keys = state.keyward.keys();
    let actor = signed.actor();
    let back = format!("/console/keys/{serial}");
    let with_code = match operation.as_str() {
        "suspend" => Some(keys.suspend(&serial, &form.description, &actor).await),
        "unlock" => Some(keys.unlock(&serial, &actor).await),
        _ => None,
    };
    if let Some(result) = with_code {
        let frame = signed.frame("keys", Flash(None));
        return match result {
            Ok(done) => {
                let frame = frame.with_notice(Notice::ok(format!("{operation}: done")));
                let code = done.activation_code.expose().to_owned();
                key_page(&state, frame, &serial, Some(code)).await
            }
            Err(e) => key_page(&state, frame.with_notice(Notice::error(e)), &serial, None).await,
        };
    }
    let outcome = match operation.as_str() {
        "cancel" => keys
            .cancel(&serial, &actor)
            .await
            .map(|_| "issuance cancelled"),
        "lock" => keys.lock(&serial, "admin", &actor).await.map(|_| "locked"),
        "deactivate" => keys
            .deactivate(&serial, &form.reason, &actor)
            .await
            .map(|_| "deactivated"),
        "compromise" => keys
            .compromise(&serial, &form.reason, &actor)
            .await
            .map(|_| "marked compromised"),
        "delete" => {
            let deleted = keys.delete(&serial, &actor).await.map(|()| "deleted");
            if deleted.is_ok() {
                return after_action("/console/keys", Ok(format!("key {serial} deleted")));
            }
            deleted
        }
        other => Err(Error::InvalidInput(format!(
            "no key operation named {other:?}"
        ))),
    };
    after_action(&back, outcome.map(|what| format!("key {serial}: {what}")))
}
