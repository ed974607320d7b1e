//! The console's pages, one module per section of the navigation.

pub(super) mod audit;
pub(super) mod dashboard;
pub(super) mod employees;
pub(super) mod invitations;
pub(super) mod keys;
pub(super) mod sync;
pub(super) mod workstations;

use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};

use super::frame::{Frame, Notice, render_with};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/employees", get(employees::list))
        .route("/console/employees/{id}", get(employees::show))
        .route("/console/employees/{id}/assign", post(employees::assign))
        .route(
            "/console/employees/{id}/passwords/rotate",
            post(employees::rotate),
        )
        .route(
            "/console/employees/{id}/passwords/set",
            post(employees::set_password),
        )
        .route("/console/sync", get(sync::page))
        .route("/console/sync/{directory}/test", post(sync::test))
        .route("/console/sync/{directory}/run", post(sync::run))
        .route("/console/sync/runs/{id}", get(sync::run_page))
        .route("/console/sync/runs/{id}/confirm", post(sync::confirm))
        .route("/console/keys", get(keys::list))
        .route("/console/keys/import", post(keys::import))
        .route("/console/keys/{serial}", get(keys::show))
        .route("/console/keys/{serial}/{operation}", post(keys::operate))
        .route("/console/workstations", get(workstations::list))
        .route(
            "/console/workstations/{id}/{action}",
            post(workstations::act),
        )
        .route("/console/invitations", get(invitations::list))
        .route("/console/invitations/{id}/{action}", post(invitations::act))
        .route("/console/audit", get(audit::list))
        .route("/console/audit.csv", get(audit::export))
}

#[derive(Template)]
#[template(path = "failed.html")]
struct FailedPage {
    frame: Frame,
}

/// A page that could not be shown: the error inline, with the API's code, message and status.
pub(super) fn failed(frame: Frame, err: keyward_service::Error) -> Response {
    let api = ApiError::from(err);
    let status = api.status();
    let frame = frame.with_notice(Notice::from_api(&api));
    render_with(
        if status.is_server_error() {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            status
        },
        &FailedPage { frame },
    )
}

pub(super) fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The query string `a=1&b=2` of the pairs whose value is not empty (form-encoded, as the
/// `Query` extractor reads it back).
pub(super) fn query_string(pairs: &[(&str, &str)]) -> String {
    let given: Vec<&(&str, &str)> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    serde_urlencoded::to_string(given).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::query_string;

    #[test]
    fn a_query_string_leaves_out_empty_values_and_encodes_the_rest() {
        assert_eq!(
            query_string(&[
                ("q", "a b&c"),
                ("status", ""),
                ("actor", "admin:ada@x.example")
            ]),
            "q=a+b%26c&actor=admin%3Aada%40x.example"
        );
    }
}
