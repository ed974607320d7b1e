//! Building the router and running the server until a shutdown signal.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::middleware::from_fn_with_state;
use keyward_service::{Keyward, Settings};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::require_admin_token;
use crate::error::ApiError;
use crate::metrics::{Metrics, track};
use crate::openapi::ApiDoc;
use crate::routes::{employees, health, invitations, keys, meta, sync};
use crate::state::AppState;

/// The route sets: public (health, metrics, this document) and admin (everything else).
pub(crate) struct RouteSets {
    pub public: OpenApiRouter<AppState>,
    pub admin: OpenApiRouter<AppState>,
}

pub(crate) fn route_sets() -> RouteSets {
    let public = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(meta::openapi_json))
        .routes(routes!(invitations::enroll_page))
        .routes(routes!(invitations::accept_invitation));
    let admin = OpenApiRouter::new()
        .routes(routes!(
            employees::list_employees,
            employees::create_employee
        ))
        .routes(routes!(employees::get_employee))
        .routes(routes!(keys::list_keys, keys::import_keys))
        .routes(routes!(keys::get_key, keys::delete_key))
        .routes(routes!(keys::key_history))
        .routes(routes!(keys::assign_key))
        .routes(routes!(keys::cancel_key))
        .routes(routes!(keys::activate_key))
        .routes(routes!(keys::resume_key))
        .routes(routes!(keys::lock_key))
        .routes(routes!(keys::suspend_key))
        .routes(routes!(keys::unlock_key))
        .routes(routes!(keys::deactivate_key))
        .routes(routes!(keys::confirm_wipe))
        .routes(routes!(keys::compromise_key))
        .routes(routes!(sync::sync_directory))
        .routes(routes!(sync::list_runs))
        .routes(routes!(sync::get_run))
        .routes(routes!(invitations::list_invitations))
        .routes(routes!(invitations::resend_invitation))
        .routes(routes!(invitations::revoke_invitation));
    RouteSets { public, admin }
}

/// Every route, for the OpenAPI document.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    let RouteSets { public, admin } = route_sets();
    public.merge(admin)
}

/// The complete application: routes, authentication, metrics, and a JSON 404 for the rest.
pub fn app(keyward: Keyward) -> Router {
    let state = AppState {
        keyward: Arc::new(keyward),
        metrics: Arc::new(Metrics::new()),
        openapi_json: Arc::new(crate::openapi::openapi_document()),
    };
    let RouteSets { public, admin } = route_sets();
    let admin = admin.route_layer(from_fn_with_state(state.clone(), require_admin_token));
    let (router, _) = public.merge(admin).split_for_parts();
    router
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), track))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see /api/v1/openapi.json for the routes this server serves")
}

/// Opens the database (migrating it), listens, and serves until `shutdown` completes; requests
/// in flight are finished before it returns.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let keyward = Keyward::open(&settings)
        .await
        .context("cannot open the database")?;
    let backend = keyward.backend();
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend, "keyward-server listening on http://{addr}");
    let scheduler = crate::scheduler::spawn(keyward.clone());
    let mailer = crate::scheduler::spawn_mailer(keyward.clone());
    let served = axum::serve(listener, app(keyward))
        .with_graceful_shutdown(shutdown)
        .await
        .context("server error");
    for task in [scheduler, mailer].into_iter().flatten() {
        task.abort();
    }
    served?;
    tracing::info!("keyward-server stopped");
    Ok(())
}

/// Completes on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
