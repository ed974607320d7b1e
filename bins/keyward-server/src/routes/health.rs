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
        problems: Vec::new(),
    })
}

/// Readiness: the database answers and every background worker this server runs is running.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = HealthDto),
        (status = 503, description = "The database is unreachable, or a background worker has stopped", body = HealthDto),
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<HealthDto>) {
    let mut problems = Vec::new();
    if let Err(err) = state.keyward.ready().await {
        tracing::warn!(error = %err, "readiness check failed");
        problems.push("the database does not answer".to_owned());
    }
    for (name, task) in state.workers.iter() {
        if task.is_finished() {
            tracing::error!(worker = name, "a background worker has stopped");
            problems.push(format!("the {name} has stopped; restart the server"));
        }
    }
    if problems.is_empty() {
        (
            StatusCode::OK,
            Json(HealthDto {
                status: "ok".into(),
                problems,
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(HealthDto {
                status: "unavailable".into(),
                problems,
            }),
        )
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "OpenMetrics text format", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String)))]
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use keyward_service::{Keyward, OpenMode, Settings};
    use tower::ServiceExt as _;

    async fn readyz_with(
        workers: Vec<(&'static str, tokio::task::AbortHandle)>,
    ) -> (u16, serde_json::Value) {
        let settings = Settings {
            database_url: "sqlite::memory:".into(),
            ..Settings::default()
        };
        let keyward = Keyward::open_with(&settings, OpenMode::CreateIfEmpty)
            .await
            .unwrap();
        let app = crate::serve::app_with_wake(
            keyward,
            crate::serve::Background {
                workers,
                ..crate::serve::Background::default()
            },
            &crate::HttpOptions::default(),
        );
        let response = app
            .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn readiness_fails_when_a_background_worker_has_stopped() {
        let running = tokio::spawn(std::future::pending::<()>());
        let (status, body) = readyz_with(vec![("mailer", running.abort_handle())]).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("ok")),
            "{body}"
        );

        let stopped = tokio::spawn(async {});
        let handle = stopped.abort_handle();
        stopped.await.unwrap();
        let (status, body) = readyz_with(vec![
            ("mailer", running.abort_handle()),
            ("rotation worker", handle),
        ])
        .await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(
            body["problems"],
            serde_json::json!(["the rotation worker has stopped; restart the server"])
        );
        running.abort();
    }
}
