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

    /// The same error under another HTTP status (its code, which the CLI reads, unchanged).
    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
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

    /// 409 `invalid_config`: the server's configuration turns the feature off (e.g. no SMTP
    /// server). Only for messages that name a setting, never a file or a value.
    pub(crate) fn turned_off(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code: ErrorCode::InvalidConfig.as_str(),
            message: message.into(),
            challenge: None,
            retry_after: None,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable error code, e.g. `invalid_transition`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let code = err.code();
        let status = match code {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            // The state of the thing asked about does not allow it now: a uniqueness rule, the
            // key's status, a lost race, a sync of the directory running, the workstation's
            // status, an invitation used or expired, a rotation under way.
            ErrorCode::Conflict
            | ErrorCode::InvalidTransition
            | ErrorCode::ConcurrentChange
            | ErrorCode::KeyNotHeld
            | ErrorCode::RotationInFlight
            | ErrorCode::LeaseBusy
            | ErrorCode::WorkstationState
            | ErrorCode::InvitationState => StatusCode::CONFLICT,
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
            // The server refuses such a schema at start; a request can only meet one if the
            // database is changed under a running server.
            ErrorCode::InvalidConfig
            | ErrorCode::SchemaBehind
            | ErrorCode::SchemaAhead
            | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
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
        } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            err.status = StatusCode::PAYLOAD_TOO_LARGE;
            err.message = "the body is larger than the server accepts".into();
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

#[cfg(test)]
mod tests {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse as _;
    use keyward_service::{Credential, Error, InvitationProblem, WorkstationStatus};

    use super::ApiError;

    /// The status, the `WWW-Authenticate` header and the body an error becomes.
    async fn answer(err: Error) -> (StatusCode, Option<String>, serde_json::Value) {
        let response = ApiError::from(err).into_response();
        let status = response.status();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, challenge, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn a_busy_lease_a_workstation_state_and_an_invitation_state_are_409_with_their_codes() {
        let id = uuid::Uuid::nil();
        for (err, code, says) in [
            (
                Error::LeaseBusy {
                    directory: "corp1".into(),
                },
                "lease_busy",
                "a sync of corp1 is already running",
            ),
            (
                Error::WorkstationState {
                    id,
                    status: WorkstationStatus::Revoked,
                    to: WorkstationStatus::Approved,
                },
                "workstation_state",
                "is revoked and cannot become approved",
            ),
            (
                Error::InvitationState {
                    invitation: Some(id),
                    problem: InvitationProblem::AlreadyUsed,
                },
                "invitation_state",
                "was already used",
            ),
            (
                Error::InvitationState {
                    invitation: None,
                    problem: InvitationProblem::Expired,
                },
                "invitation_state",
                "this invitation link has expired",
            ),
        ] {
            let (status, challenge, body) = answer(err).await;
            assert_eq!(status, StatusCode::CONFLICT, "{body}");
            assert_eq!(challenge, None, "{body}");
            assert_eq!(body["error"]["code"], code, "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(says), "{body}");
        }
    }

    #[tokio::test]
    async fn unauthorized_is_401_naming_the_credential_wanted() {
        for (credential, says) in [
            (
                Credential::AdminToken,
                "a valid admin API token is required",
            ),
            (
                Credential::Workstation,
                "a valid workstation credential is required (Authorization: Bearer kww_…)",
            ),
            (
                Credential::ClientCertificate,
                "the agent API needs a client certificate",
            ),
        ] {
            let (status, challenge, body) = answer(Error::Unauthorized { credential }).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{credential}");
            assert_eq!(challenge.as_deref(), Some("Bearer"), "{credential}");
            assert_eq!(body["error"]["code"], "unauthorized", "{credential}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.starts_with(says), "{credential}: {message}");
        }
    }

    #[tokio::test]
    async fn a_schema_mismatch_met_by_a_request_is_a_generic_500_with_its_code() {
        for (err, code) in [
            (
                Error::SchemaBehind {
                    pending: vec!["m1".into()],
                },
                "schema_behind",
            ),
            (Error::SchemaEmpty, "schema_behind"),
            (
                Error::SchemaAhead {
                    unknown: vec!["m9".into()],
                },
                "schema_ahead",
            ),
        ] {
            let (status, _, body) = answer(err).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
            assert_eq!(body["error"]["code"], code, "{body}");
            assert_eq!(
                body["error"]["message"],
                "internal error; see the server log"
            );
        }
    }
}
