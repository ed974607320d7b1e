//! Admin bearer tokens: the middleware that guards `/api/v1`.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use keyward_model::ApiToken;
use keyward_service::{Actor, Error};

use crate::error::ApiError;
use crate::state::AppState;

/// The token that authenticated the request, for handlers that record an actor.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated(pub ApiToken);

impl Authenticated {
    pub(crate) fn actor(&self) -> Actor {
        Actor::Token(self.0.name.clone())
    }
}

/// Lets the request through only with `Authorization: Bearer <valid admin token>`.
pub(crate) async fn require_admin_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = bearer(&request).ok_or(Error::Unauthorized)?;
    let token = state.keyward.tokens().verify(&presented).await?;
    request.extensions_mut().insert(Authenticated(token));
    Ok(next.run(request).await)
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
    let presented = bearer(&request).ok_or_else(ApiError::workstation_unauthorized)?;
    let ws = match state.keyward.agent().authenticate(&presented).await {
        Ok(ws) => ws,
        Err(Error::Unauthorized) => return Err(ApiError::workstation_unauthorized()),
        Err(e) => return Err(e.into()),
    };
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
