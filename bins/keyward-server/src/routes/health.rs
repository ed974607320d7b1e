//! Liveness, readiness and metrics. No authentication: load balancers and Prometheus call them.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::dto::HealthDto;
use crate::state::AppState;

/// Liveness: the process is up and answering.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The server is running", body = HealthDto)))]
pub(crate) async fn healthz() -> Json<HealthDto> {
    Json(HealthDto {
        status: "ok".into(),
    })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = HealthDto),
        (status = 503, description = "The database is unreachable", body = HealthDto),
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<HealthDto>) {
    match state.keyward.ready().await {
        Ok(()) => (
            StatusCode::OK,
            Json(HealthDto {
                status: "ok".into(),
            }),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(HealthDto {
                    status: "unavailable".into(),
                }),
            )
        }
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.refresh(&state.keyward).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
