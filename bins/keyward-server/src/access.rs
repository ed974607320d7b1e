//! The access log: one line per request, with a request id the answer carries too.
//!
//! The id is the caller's `X-Request-Id` when it is 1 to 64 characters of letters, digits, `-`,
//! `_` and `.`, otherwise a new one; the answer carries it back in `X-Request-Id`, so that a
//! support case, a proxy's log and keyward's log meet on it. The line names the route template
//! (`/console/enroll/{link}`), never the raw path or the query, because paths and queries can
//! carry secrets (enrollment links); `unmatched` for every path no route serves.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The header that carries the request id both ways.
pub(crate) const REQUEST_ID: &str = "x-request-id";

fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Logs the request once it is answered (target `keyward::access`) and sets `X-Request-Id`.
pub(crate) async fn log(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let started = Instant::now();
    let mut response = next.run(request).await;
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        target: "keyward::access",
        request_id = %id,
        %method,
        route,
        status = response.status().as_u16(),
        millis = format!("{millis:.1}"),
        client,
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_short_plain_ids_are_taken_from_the_caller() {
        assert!(acceptable("abc-123_x.y"));
        assert!(!acceptable(""));
        assert!(!acceptable(&"a".repeat(65)));
        assert!(!acceptable("a b"));
        assert!(!acceptable("a\nb"));
    }
}
