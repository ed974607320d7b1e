//! What every handler can reach.

use std::sync::Arc;

use keyward_service::Keyward;

use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;

/// Shared, cheap-to-clone application state.
#[derive(Clone)]
pub(crate) struct AppState {
    pub keyward: Arc<Keyward>,
    pub metrics: Arc<Metrics>,
    /// The OpenAPI document, serialized once at start-up.
    pub openapi_json: Arc<String>,
    /// Wakes the rotation worker when a key acknowledged a candidate, so the directory step
    /// follows at once instead of at the next poll.
    pub rotation_wake: Arc<tokio::sync::Notify>,
    /// Token buckets per client address for workstation registration.
    pub registration_limiter: Arc<RateLimiter>,
    /// Token buckets per client address for console sign-in attempts.
    pub sign_in_limiter: Arc<RateLimiter>,
    /// The background workers this server runs (name and task), for `/readyz`.
    pub workers: Arc<Vec<(&'static str, tokio::task::AbortHandle)>>,
}
