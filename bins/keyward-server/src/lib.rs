//! keyward's HTTP server: the REST API under `/api/v1`, admin token authentication, the web
//! console under `/console` (passkey sign-in), health, readiness and Prometheus metrics, and
//! graceful shutdown.
//!
//! Place in the layers: a binary crate (library plus a short `main`). It calls
//! `keyward-service` and the vocabulary crates only; it never names `sea_orm` or `ldap3`.
//!
//! Invariants:
//! - every API route is registered through `utoipa_axum::routes!`, so the OpenAPI document
//!   served at `/api/v1/openapi.json` lists every route of the API (the console's HTML pages
//!   under `/console` are not API and are not in it);
//! - everything under `/api/v1` except the OpenAPI document and the agent API needs an admin
//!   bearer token with the scope the route's OpenAPI security requirement names; there is no
//!   default credential;
//! - errors are JSON `{"error": {"code", "message"}}` with a stable code; 5xx bodies are generic and
//!   the detail goes to the log;
//! - the console signs admins in with a passkey and guards every change with a session cookie
//!   and a CSRF token (see `console`);
//! - no response or log line carries a secret; answers under `/api/v1` and `/enroll` are
//!   `Cache-Control: no-store`;
//! - plain HTTP only on loopback (or with `insecure_http`); otherwise TLS with rustls on ring,
//!   reloaded on file change and SIGHUP, with optional mutual TLS for the agent API.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let settings = keyward_service::Settings::default();
//! let keyward =
//!     keyward_service::Keyward::open_with(&settings, keyward_service::OpenMode::CreateIfEmpty)
//!         .await?;
//! let app = keyward_server::app(keyward);
//! let listener = tokio::net::TcpListener::bind(settings.listen).await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod access;
mod auth;
mod console;
mod dto;
mod error;
mod hardening;
mod instance;
mod metrics;
mod openapi;
mod openapi_rules;
mod ratelimit;
mod routes;
mod scheduler;
mod serve;
mod state;
mod tls;

pub use error::ApiError;
pub use hardening::HttpOptions;
pub use openapi::openapi_document;
pub use serve::{app, app_with_options, check_transport, run, shutdown_signal};
pub use tls::TlsConnection;
