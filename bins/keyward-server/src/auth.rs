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
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .ok_or(Error::Unauthorized)?;
    let token = state.keyward.tokens().verify(presented).await?;
    request.extensions_mut().insert(Authenticated(token));
    Ok(next.run(request).await)
}
