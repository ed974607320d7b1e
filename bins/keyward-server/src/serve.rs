//! Building the router and running the server until a shutdown signal.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::middleware::from_fn_with_state;
use keyward_service::{Keyward, OpenMode, Settings};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{require_admin_token, require_workstation};
use crate::error::ApiError;
use crate::hardening::HttpOptions;
use crate::metrics::{Metrics, track};
use crate::openapi::ApiDoc;
use crate::routes::{
    admins, agent, audit, directories, employees, health, invitations, keys, meta, sync, tokens,
    workstations,
};
use crate::state::AppState;
use crate::tls::Transport;

/// The route sets: public (health, metrics, this document) and admin (everything else).
pub(crate) struct RouteSets {
    pub public: OpenApiRouter<AppState>,
    pub admin: OpenApiRouter<AppState>,
    pub agent: OpenApiRouter<AppState>,
}

pub(crate) fn route_sets() -> RouteSets {
    let public = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(meta::openapi_json))
        .routes(routes!(invitations::enroll_page))
        .routes(routes!(invitations::accept_invitation))
        .routes(routes!(agent::register));
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
        .routes(routes!(invitations::revoke_invitation))
        .routes(routes!(workstations::list_workstations))
        .routes(routes!(workstations::approve_workstation))
        .routes(routes!(workstations::revoke_workstation))
        .routes(routes!(workstations::password_status))
        .routes(routes!(workstations::rotate_passwords))
        .routes(routes!(workstations::set_password))
        .routes(routes!(workstations::advance_passwords))
        .routes(routes!(invitations::send_mail))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(admins::list_admins, admins::create_admin))
        .routes(routes!(admins::admin_link))
        .routes(routes!(admins::disable_admin))
        .routes(routes!(directories::list_directories))
        .routes(routes!(directories::test_directory))
        .routes(routes!(audit::list_audit));
    let agent = OpenApiRouter::new()
        .routes(routes!(agent::me))
        .routes(routes!(agent::seen))
        .routes(routes!(agent::activate))
        .routes(routes!(agent::renew_proof))
        .routes(routes!(agent::lock))
        .routes(routes!(agent::pending))
        .routes(routes!(agent::ack))
        .routes(routes!(agent::user_password));
    RouteSets {
        public,
        admin,
        agent,
    }
}

/// Every route, for the OpenAPI document.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    let RouteSets {
        public,
        admin,
        agent,
    } = route_sets();
    public.merge(admin).merge(agent)
}

/// The complete application: routes, authentication, metrics, and a JSON 404 for the rest,
/// with the default [`HttpOptions`].
pub fn app(keyward: Keyward) -> Router {
    app_with_options(keyward, &HttpOptions::default())
}

/// [`app`] with these timeouts, concurrency limit and client-certificate rule.
pub fn app_with_options(keyward: Keyward, options: &HttpOptions) -> Router {
    app_with_wake(keyward, Background::default(), options)
}

/// What the server's background workers share with the request handlers.
#[derive(Default)]
pub(crate) struct Background {
    /// Wakes the rotation worker when a key acknowledged a candidate.
    pub rotation_wake: Arc<tokio::sync::Notify>,
    /// The workers this server runs (name and task), for `/readyz`.
    pub workers: Vec<(&'static str, tokio::task::AbortHandle)>,
    /// The metric registry, which the rotation worker counts its steps in.
    pub metrics: Arc<Metrics>,
}

/// [`app`] whose agent acknowledgements wake `rotation_wake` (the rotation worker).
pub(crate) fn app_with_wake(
    keyward: Keyward,
    background: Background,
    options: &HttpOptions,
) -> Router {
    let registration_limiter = Arc::new(crate::ratelimit::RateLimiter::from_settings(
        &keyward.settings().agent,
    ));
    let state = AppState {
        keyward: Arc::new(keyward),
        metrics: background.metrics,
        openapi_json: Arc::new(crate::openapi::openapi_document()),
        rotation_wake: background.rotation_wake,
        registration_limiter,
        sign_in_limiter: Arc::new(crate::ratelimit::RateLimiter::new(
            crate::console::SIGN_IN_BURST,
            crate::console::SIGN_IN_PER_MINUTE,
        )),
        workers: Arc::new(background.workers),
    };
    let RouteSets {
        public,
        admin,
        agent,
    } = route_sets();
    let admin = admin.route_layer(from_fn_with_state(state.clone(), require_admin_token));
    let agent = agent.route_layer(from_fn_with_state(state.clone(), require_workstation));
    let (router, _) = public.merge(admin).merge(agent).split_for_parts();
    let router = router.merge(crate::console::router(&state));
    crate::hardening::apply(router.fallback(not_found), options)
        .layer(from_fn_with_state(state.clone(), track))
        .layer(axum::middleware::from_fn(crate::access::log))
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
    let transport = crate::tls::transport(&settings).map_err(anyhow::Error::msg)?;
    if let Transport::Http { insecure: true } = transport {
        tracing::warn!(
            listen = %settings.listen,
            "insecure_http = true: serving plain HTTP on a non-loopback address; credentials, \
             codes and passwords cross the network in clear unless a TLS proxy is in front"
        );
    }
    // The certificate is loaded before the server says it listens.
    let reloader = match &transport {
        Transport::Https(files) => {
            Some(crate::tls::Reloader::new(files.clone()).map_err(anyhow::Error::msg)?)
        }
        Transport::Http { .. } => None,
    };
    // An empty database gets the schema (the quick start's new keyward.db); any other schema
    // must already be the one this build knows: `keyward migrate` upgrades it.
    let keyward = Keyward::open_with(&settings, OpenMode::CreateIfEmpty)
        .await
        .context("cannot open the database")?;
    // Loaded once, for every message the mailer renders (main checked them already; an
    // embedder calling `run` gets the same refusal).
    keyward
        .mail()
        .check_templates()
        .context("cannot load the mail templates")?;
    // Before the key-encryption key is loaded: a key rotation that starts later sees this
    // lease, one that started earlier left a record that refuses the key below.
    let lease = crate::instance::HeldLease::take(&keyward).await?;
    let secrets = &settings.secrets;
    if secrets.key_file.is_some() || secrets.passphrase_env.is_some() {
        match keyward.check_secrets().await {
            Ok(fingerprint) => tracing::info!(fingerprint, "key-encryption key loaded"),
            Err(e) => {
                lease.release().await;
                return Err(anyhow::Error::new(e).context("cannot load the key-encryption key"));
            }
        }
    } else {
        tracing::warn!(
            "no [secrets] key-encryption key: activation codes are hashed without a pepper, so a \
             copy of the database allows an offline search of live codes; configure \
             secrets.key_file"
        );
    }
    // The server says it listens once it is ready: the lease is held and the key loaded.
    let backend = keyward.backend();
    let listener = match tokio::net::TcpListener::bind(settings.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            lease.release().await;
            return Err(
                anyhow::Error::new(e).context(format!("cannot listen on {}", settings.listen))
            );
        }
    };
    let addr = listener.local_addr()?;
    let scheme = crate::tls::scheme(&transport);
    tracing::info!(%addr, backend, "keyward-server listening on {scheme}://{addr}");
    let (workers, background) = Workers::spawn(&keyward);
    let app = app_with_wake(keyward, background, &HttpOptions::from_settings(&settings));
    let served = match (transport, reloader) {
        (Transport::Https(files), Some(reloader)) => {
            if files.mutual() {
                tracing::info!("mutual TLS: the agent API needs a client certificate");
            }
            let watch = reloader.spawn_watch(settings.tls.reload_interval_secs);
            crate::tls::serve(listener, app, reloader, shutdown).await;
            watch.abort();
            Ok(())
        }
        // The peer address is what registration is rate-limited by (and what it records); the
        // TLS loop inserts it itself.
        _ => serve_http(listener, app, shutdown).await,
    };
    workers.stop().await;
    lease.release().await;
    served?;
    tracing::info!("keyward-server stopped");
    Ok(())
}

/// The background workers of a running server: the sync scheduler, the mailer and the rotation
/// worker (each only when configured).
struct Workers {
    stop: tokio::sync::watch::Sender<bool>,
    scheduler: Option<tokio::task::JoinHandle<()>>,
    mailer: Option<tokio::task::JoinHandle<()>>,
    rotation: Option<tokio::task::JoinHandle<()>>,
}

impl Workers {
    /// Starts them, and returns what the request handlers share with them.
    fn spawn(keyward: &Keyward) -> (Self, Background) {
        let wake = Arc::new(tokio::sync::Notify::new());
        let metrics = Arc::new(Metrics::new());
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let workers = Self {
            scheduler: crate::scheduler::spawn(keyward.clone()),
            mailer: crate::scheduler::spawn_mailer(keyward.clone(), stopping.clone()),
            rotation: crate::scheduler::spawn_rotation(
                keyward.clone(),
                wake.clone(),
                stopping,
                metrics.clone(),
            ),
            stop,
        };
        let handles = [
            ("sync scheduler", &workers.scheduler),
            ("mailer", &workers.mailer),
            ("rotation worker", &workers.rotation),
        ]
        .into_iter()
        .filter_map(|(name, task)| task.as_ref().map(|t| (name, t.abort_handle())))
        .collect();
        let background = Background {
            rotation_wake: wake,
            workers: handles,
            metrics,
        };
        (workers, background)
    }

    /// The mailer and the rotation worker finish the step in hand (a message, a directory
    /// reset and its commit), so a restart repeats nothing; a sync in progress is abandoned
    /// (it writes nothing before its read is complete).
    async fn stop(self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.scheduler {
            task.abort();
        }
        for task in [self.mailer, self.rotation].into_iter().flatten() {
            if tokio::time::timeout(std::time::Duration::from_secs(30), task)
                .await
                .is_err()
            {
                tracing::warn!("a background worker did not stop within 30 s");
            }
        }
    }
}

/// Checks what the server needs from the settings before it starts: TLS files that can be
/// read and used, and TLS (or `insecure_http`) on an address that is not loopback. The error
/// is one line that names the key and the file.
pub fn check_transport(settings: &Settings) -> Result<(), String> {
    crate::tls::transport(settings).map(|_| ())
}

/// Serves plain HTTP until `shutdown` completes; SIGHUP is ignored meanwhile.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let hangup = ignore_hangup();
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("server error");
    if let Some(task) = hangup {
        task.abort();
    }
    served
}

/// Over plain HTTP there is nothing to reload, but SIGHUP (what `systemctl reload` sends) must
/// not end the server, which is its default action: it is logged and otherwise ignored.
fn ignore_hangup() -> Option<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hangup) => Some(tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    tracing::info!(
                        "SIGHUP received: without [tls] there is nothing to reload (other settings \
                         take effect at the next start)"
                    );
                }
            })),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP");
                None
            }
        }
    }
    #[cfg(not(unix))]
    None
}

/// Completes on ctrl-c or SIGTERM.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    // Registered now, not when the future is first polled: a SIGTERM that arrives while the
    // server is still starting is then a graceful stop (the lease is given back), not the
    // default action that ends the process at once.
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (terminate, interrupt) = signals;
            let wait = |registered: std::io::Result<tokio::signal::unix::Signal>,
                        what: &'static str| async move {
                match registered {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot listen for {what}");
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                () = wait(interrupt, "ctrl-c") => tracing::info!("ctrl-c received, shutting down"),
                () = wait(terminate, "SIGTERM") => tracing::info!("SIGTERM received, shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!(error = %e, "cannot listen for ctrl-c");
                std::future::pending::<()>().await;
            }
            tracing::info!("ctrl-c received, shutting down");
        }
    }
}
