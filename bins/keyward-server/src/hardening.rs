//! HTTP hardening around every route: security headers, request timeouts, a global
//! concurrency limit, and the client certificate the agent API needs under mutual TLS.
//!
//! Headers on every answer: `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
//! a `Content-Security-Policy` that allows nothing to load and no framing
//! (`default-src 'none'; frame-ancestors 'none'; …`), `X-Frame-Options: DENY`; on every answer
//! under `/api/v1/`, `/enroll/` and `/console` (the routes that carry tokens, codes, proofs,
//! credentials and passwords) `Cache-Control: no-store`; over TLS, `Strict-Transport-Security`.
//! The console's pages get a policy that allows their own script and style sheet only.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse as _, Response};
use keyward_service::{Credential, Error, Settings};
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::tls::TlsConnection;

/// The route whose handler reads a whole directory: it gets `http.sync_timeout_secs`.
const SYNC_ROUTE: &str = "/api/v1/directories/{name}/sync";

/// The agent API: under mutual TLS every route below needs a client certificate.
const AGENT_PREFIX: &str = "/api/v1/agent";

/// `max-age` of `Strict-Transport-Security`: one year.
const HSTS: &str = "max-age=31536000";

/// Nothing loads, nothing frames the page: the enrollment page is one HTML document with an
/// inline SVG and no script, style sheet, image or form.
const CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The console: its own script and style sheet only, forms only to itself, no framing.
const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                           img-src 'self' data:; connect-src 'self'; form-action 'self'; \
                           frame-ancestors 'none'; base-uri 'none'";

/// The limits and rules of [`apply`], from `[http]` and `[tls]`.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Longest time to answer a request (`http.request_timeout_secs`).
    pub request_timeout: Duration,
    /// Longest time to answer a directory sync (`http.sync_timeout_secs`).
    pub sync_timeout: Duration,
    /// Requests served at once (`http.max_concurrent_requests`); `/healthz` is not counted.
    pub max_concurrent_requests: usize,
    /// Refuse `/api/v1/agent` requests that did not come with a verified client certificate
    /// (`tls.client_ca_file` is set).
    pub agent_client_certificate: bool,
}

impl HttpOptions {
    /// The options `settings` describe.
    pub fn from_settings(settings: &Settings) -> Self {
        let http = &settings.http;
        Self {
            request_timeout: Duration::from_secs(http.request_timeout_secs),
            sync_timeout: Duration::from_secs(http.sync_timeout_secs),
            max_concurrent_requests: usize::try_from(http.max_concurrent_requests)
                .unwrap_or(usize::MAX),
            agent_client_certificate: settings.tls.enabled()
                && settings.tls.client_ca_file.is_some(),
        }
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self::from_settings(&Settings::default())
    }
}

struct Limits {
    options: HttpOptions,
    in_flight: Semaphore,
}

/// Wraps every route of `router` (and its fallback) in the hardening layers. Outermost first:
/// headers (so that the answers of the other layers carry them too), the concurrency limit,
/// the timeout, the client certificate rule.
pub(crate) fn apply<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    options: &HttpOptions,
) -> Router<S> {
    let limits = Arc::new(Limits {
        in_flight: Semaphore::new(options.max_concurrent_requests.min(Semaphore::MAX_PERMITS)),
        options: options.clone(),
    });
    router
        .layer(from_fn_with_state(limits.clone(), client_certificate))
        .layer(from_fn_with_state(limits.clone(), timeout))
        .layer(from_fn_with_state(limits, concurrency))
        .layer(from_fn(security_headers))
}

fn route(request: &Request) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| request.uri().path(), MatchedPath::as_str)
}

fn is_agent_path(path: &str) -> bool {
    path.strip_prefix(AGENT_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Under mutual TLS, the agent API answers only requests whose connection presented a client
/// certificate signed by `tls.client_ca_file`.
async fn client_certificate(
    State(limits): State<Arc<Limits>>,
    request: Request,
    next: Next,
) -> Response {
    if limits.options.agent_client_certificate
        && (is_agent_path(route(&request)) || is_agent_path(request.uri().path()))
        && !request
            .extensions()
            .get::<TlsConnection>()
            .is_some_and(|c| c.client_certificate)
    {
        return ApiError::from(Error::Unauthorized {
            credential: Credential::ClientCertificate,
        })
        .into_response();
    }
    next.run(request).await
}

/// Answers `503 unavailable` when the handler takes longer than its timeout; the handler is
/// dropped (its transaction, if any, rolls back).
async fn timeout(State(limits): State<Arc<Limits>>, request: Request, next: Next) -> Response {
    let (limit, key) = if route(&request) == SYNC_ROUTE {
        (limits.options.sync_timeout, "http.sync_timeout_secs")
    } else {
        (limits.options.request_timeout, "http.request_timeout_secs")
    };
    let method = request.method().clone();
    let path = route(&request).to_owned();
    if let Ok(response) = tokio::time::timeout(limit, next.run(request)).await {
        return response;
    }
    tracing::warn!(%method, route = %path, seconds = limit.as_secs_f64(), "request timed out");
    ApiError::unavailable(format!(
        "the request took longer than {} s ({key}); try again later",
        limit.as_secs_f64()
    ))
    .into_response()
}

/// Answers `503 unavailable` at once (with `Retry-After`) when `max_concurrent_requests` are
/// being served; `/healthz` is never refused, so a busy server is not taken for a dead one.
async fn concurrency(State(limits): State<Arc<Limits>>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let Ok(_permit) = limits.in_flight.try_acquire() else {
        let mut response = ApiError::unavailable(format!(
            "the server is busy: {} requests in progress (http.max_concurrent_requests); \
             try again shortly",
            limits.options.max_concurrent_requests
        ))
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    next.run(request).await
}

async fn security_headers(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let console = path == "/console" || path.starts_with("/console/");
    let no_store = path.starts_with("/api/v1/") || path.starts_with("/enroll/") || console;
    let over_tls = request.extensions().get::<TlsConnection>().is_some();
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The console's own forms must carry their `Origin` (browsers send `Origin: null` under
    // `no-referrer`), which the console checks; `same-origin` still sends nothing to another site.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static(if console {
            "same-origin"
        } else {
            "no-referrer"
        }),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if console { CONSOLE_CSP } else { CSP }),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if no_store {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if over_tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::{get, post};
    use tower::ServiceExt as _;

    use super::{HttpOptions, apply, is_agent_path};
    use crate::tls::TlsConnection;

    fn options() -> HttpOptions {
        HttpOptions {
            request_timeout: Duration::from_millis(100),
            sync_timeout: Duration::from_secs(5),
            max_concurrent_requests: 1,
            agent_client_certificate: true,
        }
    }

    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_millis(300)).await;
        "done"
    }

    fn router(options: &HttpOptions) -> Router {
        apply(
            Router::new()
                .route("/api/v1/slow", get(slow))
                .route("/api/v1/directories/{name}/sync", post(slow))
                .route("/api/v1/agent/me", get(|| async { "me" }))
                .route("/healthz", get(|| async { "ok" })),
            options,
        )
    }

    async fn call(
        app: &Router,
        method: &str,
        uri: &str,
        tls: Option<bool>,
    ) -> (StatusCode, String) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(client_certificate) = tls {
            request = request.extension(TlsConnection { client_certificate });
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_slow_request_is_cut_off_but_a_sync_has_its_own_longer_timeout() {
        let app = router(&HttpOptions {
            max_concurrent_requests: 10,
            ..options()
        });
        let (status, body) = call(&app, "GET", "/api/v1/slow", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "unavailable");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("http.request_timeout_secs"),
            "{body}"
        );
        let (status, body) = call(&app, "POST", "/api/v1/directories/corp1/sync", None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "done"));
    }

    #[tokio::test]
    async fn requests_beyond_the_limit_are_refused_at_once_except_healthz() {
        let app = router(&HttpOptions {
            request_timeout: Duration::from_secs(5),
            ..options()
        });
        let first = tokio::spawn({
            let app = app.clone();
            async move { call(&app, "GET", "/api/v1/slow", None).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (status, body) = call(&app, "POST", "/api/v1/directories/x/sync", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("http.max_concurrent_requests"), "{body}");
        assert_eq!(call(&app, "GET", "/healthz", None).await.0, StatusCode::OK);
        assert_eq!(first.await.unwrap().0, StatusCode::OK);
        // The permit came back.
        assert_eq!(
            call(&app, "GET", "/api/v1/agent/me", Some(true)).await.0,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn under_mutual_tls_the_agent_api_needs_a_client_certificate() {
        let app = router(&HttpOptions {
            max_concurrent_requests: 10,
            ..options()
        });
        for tls in [None, Some(false)] {
            let (status, body) = call(&app, "GET", "/api/v1/agent/me", tls).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{tls:?}");
            assert!(body.contains("client certificate"), "{body}");
        }
        // An unknown agent path too: nothing under the prefix escapes the rule.
        let (status, _) = call(&app, "GET", "/api/v1/agent/nothing-here", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            call(&app, "GET", "/api/v1/agent/me", Some(true)).await,
            (StatusCode::OK, "me".to_owned())
        );
        // Other routes do not ask for one; without mutual TLS the agent API does not either.
        assert_eq!(
            call(&app, "GET", "/healthz", Some(false)).await.0,
            StatusCode::OK
        );
        let plain = router(&HttpOptions {
            max_concurrent_requests: 10,
            agent_client_certificate: false,
            ..options()
        });
        assert_eq!(
            call(&plain, "GET", "/api/v1/agent/me", None).await.0,
            StatusCode::OK
        );
    }

    #[test]
    fn the_agent_prefix_is_a_whole_segment() {
        assert!(is_agent_path("/api/v1/agent"));
        assert!(is_agent_path("/api/v1/agent/register"));
        assert!(!is_agent_path("/api/v1/agents"));
        assert!(!is_agent_path("/api/v1/keys"));
    }
}
