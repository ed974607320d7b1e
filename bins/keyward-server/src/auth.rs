//! Admin bearer tokens: the middleware that guards `/api/v1`, with the scope each route needs.
//!
//! The scope of a route is the one named in its OpenAPI security requirement
//! (`security(("admin_token" = ["keys"]))`), so the document and the check cannot disagree. An
//! admin route that names no scope, or an unknown one, is refused to every token (a test keeps
//! every admin route naming exactly one).

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::http::header::{self, AUTHORIZATION};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use keyward_model::{ApiToken, Scope};
use keyward_service::{Actor, Credential, Error};

use crate::error::ApiError;
use crate::state::AppState;

/// `(METHOD, route template)` → the scope it needs, read from the OpenAPI document.
static ROUTE_SCOPES: LazyLock<HashMap<(String, String), Scope>> =
    LazyLock::new(|| route_scopes(&crate::openapi::openapi_document()));

/// The admin-token scope each documented operation requires, from a serialized OpenAPI
/// document. An operation with no scope or several, or an unknown name, is left out (and so
/// refused).
pub(crate) fn route_scopes(document: &str) -> HashMap<(String, String), Scope> {
    let mut out = HashMap::new();
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(document) else {
        return out;
    };
    let Some(paths) = doc["paths"].as_object() else {
        return out;
    };
    for (path, item) in paths {
        let Some(operations) = item.as_object() else {
            continue;
        };
        for (method, operation) in operations {
            let scopes: Vec<&str> = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|req| req[crate::openapi::ADMIN_TOKEN].as_array())
                .flatten()
                .filter_map(serde_json::Value::as_str)
                .collect();
            if let [one] = scopes.as_slice()
                && let Ok(scope) = Scope::parse(one)
            {
                out.insert((method.to_uppercase(), path.clone()), scope);
            }
        }
    }
    out
}

/// The token that authenticated the request, for handlers that record an actor.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated(pub ApiToken);

impl Authenticated {
    pub(crate) fn actor(&self) -> Actor {
        Actor::Token(self.0.name.clone())
    }
}

/// Lets the request through only with `Authorization: Bearer <valid admin token>` that has
/// the scope of the route (or `admin`): 401 without a valid token, 401 `token_expired` for an
/// expired one, 403 `insufficient_scope` naming the scope needed.
pub(crate) async fn require_admin_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(path) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        return Err(no_scope(&request));
    };
    // HEAD is served by the GET route.
    let method = match request.method().as_str() {
        "HEAD" => "GET".to_owned(),
        other => other.to_owned(),
    };
    let Some(needed) = ROUTE_SCOPES.get(&(method, path.clone())).copied() else {
        // The path is served but not with this method: 405 with `Allow`, as for every other
        // route (axum answers those itself; here the scope check comes first).
        let allowed = allowed_methods(&path);
        if allowed.is_empty() {
            return Err(no_scope(&request));
        }
        return Ok(method_not_allowed(&allowed));
    };
    let presented = bearer(&request).ok_or(Error::Unauthorized {
        credential: Credential::AdminToken,
    })?;
    let token = state.keyward.tokens().verify(&presented).await?;
    keyward_service::require_scope(&token, needed)?;
    request.extensions_mut().insert(Authenticated(token));
    Ok(next.run(request).await)
}

/// The methods the document lists for `path`, for an `Allow` header (`GET` brings `HEAD`).
fn allowed_methods(path: &str) -> Vec<&'static str> {
    let mut allowed: Vec<&'static str> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        .into_iter()
        .filter(|m| {
            let documented = if *m == "HEAD" { "GET" } else { m };
            ROUTE_SCOPES.contains_key(&(documented.to_owned(), path.to_owned()))
        })
        .collect();
    allowed.dedup();
    allowed
}

fn method_not_allowed(allowed: &[&str]) -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, allowed.join(","))],
    )
        .into_response()
}

/// A served admin route that the OpenAPI document gives no scope: refused, and logged as the
/// bug it is (a test keeps it from happening).
fn no_scope(request: &Request) -> ApiError {
    tracing::error!(
        method = %request.method(),
        uri = %request.uri().path(),
        "an admin route declares no scope in its OpenAPI security requirement; refused"
    );
    Error::Internal {
        source: "admin route without a scope".into(),
    }
    .into()
}

/// The workstation that authenticated an agent request.
#[derive(Debug, Clone)]
pub(crate) struct AgentCaller(pub keyward_service::Workstation);

/// Lets an agent request through with `Authorization: Bearer <workstation credential>`; whether
/// the workstation is approved is checked by each operation (a pending one may ask its status).
pub(crate) async fn require_workstation(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = bearer(&request).ok_or(Error::Unauthorized {
        credential: Credential::Workstation,
    })?;
    let ws = state.keyward.agent().authenticate(&presented).await?;
    request.extensions_mut().insert(AgentCaller(ws));
    Ok(next.run(request).await)
}

fn bearer(request: &Request) -> Option<String> {
    request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        })
}
