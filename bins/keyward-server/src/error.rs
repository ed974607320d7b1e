//! Errors as HTTP responses: a status, a stable code and a one-line message.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_service::{Error, ErrorCode};

use crate::dto::{ErrorBody, ErrorDetail};

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// The `WWW-Authenticate` challenge of a 401 or 403 (RFC 6750 §3); `Bearer` by default.
    challenge: Option<String>,
    /// Seconds for `Retry-After` (429).
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: ErrorCode::InvalidInput.as_str(),
            message: message.into(),
            challenge: None,
            retry_after: None,
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: ErrorCode::NotFound.as_str(),
            message: message.into(),
            challenge: None,
            retry_after: None,
        }
    }

    /// 429 with `Retry-After`: this client address made too many requests of this kind.
    pub(crate) fn rate_limited(retry_after_secs: u64, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: ErrorCode::RateLimited.as_str(),
            message: message.into(),
            challenge: None,
            retry_after: Some(retry_after_secs),
        }
    }

    /// 401 for the agent API: says which credential is wanted (an admin token is not one).
    pub(crate) fn workstation_unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: ErrorCode::Unauthorized.as_str(),
            message: "a valid workstation credential is required (Authorization: Bearer kww_…); \
                      register with POST /api/v1/agent/register"
                .into(),
            challenge: None,
            retry_after: None,
        }
    }

    /// 503 for a request the server will not finish now (timeout, too many at once).
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: ErrorCode::Unavailable.as_str(),
            message: message.into(),
            challenge: None,
            retry_after: None,
        }
    }

    /// 401 for an agent request without a client certificate under mutual TLS.
    pub(crate) fn client_certificate_required() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: ErrorCode::Unauthorized.as_str(),
            message: "the agent API needs a client certificate signed by the server's client CA \
                      (mutual TLS, tls.client_ca_file)"
                .into(),
            challenge: None,
            retry_after: None,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let code = err.code();
        let status = match code {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict | ErrorCode::InvalidTransition | ErrorCode::ConcurrentChange => {
                StatusCode::CONFLICT
            }
            ErrorCode::KeyNotHeld | ErrorCode::RotationInFlight => StatusCode::CONFLICT,
            ErrorCode::WorkstationNotApproved
            | ErrorCode::KeyProofRequired
            | ErrorCode::InsufficientScope
            | ErrorCode::RegistrationRefused => StatusCode::FORBIDDEN,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::NotSupported => StatusCode::NOT_IMPLEMENTED,
            ErrorCode::InvalidInput
            | ErrorCode::PasswordPolicy
            | ErrorCode::WrongActivationCode
            | ErrorCode::ActivationCodeExpired
            | ErrorCode::ActivationAttemptsExhausted => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Unauthorized | ErrorCode::TokenExpired => StatusCode::UNAUTHORIZED,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Directory => StatusCode::BAD_GATEWAY,
            ErrorCode::InvalidConfig | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // A directory failure says what to fix (unreachable, TLS, bind refused, group missing)
        // and never holds a secret, so it is shown; other 5xx details go to the log only.
        let message = if status.is_server_error()
            && code != ErrorCode::Directory
            && code != ErrorCode::NotSupported
        {
            // The detail may name hosts, files or SQL; it goes to the log, not to the client.
            tracing::error!(code = code.as_str(), error = %err, "request failed");
            match code {
                ErrorCode::Unavailable => "the database is unavailable; see the server log".into(),
                _ => "internal error; see the server log".into(),
            }
        } else {
            err.to_string()
        };
        // RFC 6750 §3.1: say what is wrong with the token, never anything secret.
        let challenge = match &err {
            Error::TokenExpired { .. } => Some(
                r#"Bearer error="invalid_token", error_description="the token expired""#.into(),
            ),
            Error::InsufficientScope { needed, .. } => Some(format!(
                r#"Bearer error="insufficient_scope", scope="{needed}""#
            )),
            _ => None,
        };
        Self {
            status,
            code: code.as_str(),
            message,
            challenge,
            retry_after: None,
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let mut err = Self::invalid_input(format!("invalid JSON body: {}", rejection.body_text()));
        if rejection.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            err.status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
            err.message = "the body must be JSON with Content-Type: application/json".into();
        }
        err
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::invalid_input(format!("invalid query string: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::invalid_input(format!("invalid path: {}", rejection.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            Some(challenge) => {
                headers.insert(header::WWW_AUTHENTICATE, challenge);
            }
            None if self.status == StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            None => {}
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
