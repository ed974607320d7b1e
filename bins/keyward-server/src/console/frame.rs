//! What every page shares: the signed-in admin, the CSRF token, the notice, and rendering.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyward_service::ConsoleSession;
use serde::{Deserialize, Serialize};

use super::{FLASH_COOKIE, SESSION_COOKIE, cookie, set_cookie};
use crate::error::ApiError;
use crate::state::AppState;

/// The longest message the flash cookie carries.
const FLASH_MAX_CHARS: usize = 1000;

/// A request with a live console session.
pub(crate) struct Signed {
    pub session: ConsoleSession,
    /// The cookie's secret (for sign-out).
    pub secret: String,
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_sign_in = || Redirect::to("/console/sign-in").into_response();
        let secret = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(to_sign_in)?;
        match state.keyward.admins().session(&secret).await {
            Ok(session) => Ok(Self { session, secret }),
            Err(keyward_service::Error::Unauthorized { .. }) => Err(to_sign_in()),
            Err(e) => Err(ApiError::from(e).into_response()),
        }
    }
}

impl Signed {
    /// Refuses a state-changing request without this session's CSRF token.
    // The refusal is the answer itself, as axum handlers return it.
    #[allow(clippy::result_large_err)]
    pub fn check_csrf(&self, presented: &str) -> Result<(), Response> {
        if self.session.csrf_matches(presented) {
            Ok(())
        } else {
            Err((
                StatusCode::FORBIDDEN,
                "refused: the form is stale or did not come from this console (CSRF token); \
                 reload the page and try again",
            )
                .into_response())
        }
    }

    /// The audit actor.
    pub fn actor(&self) -> keyward_service::Actor {
        self.session.actor()
    }

    /// The frame of a page in `section`, with the notice carried over from the last POST.
    pub fn frame(&self, section: &'static str, flash: Flash) -> Frame {
        Frame {
            admin: Some(format!(
                "{} <{}>",
                self.session.admin.name, self.session.admin.email
            )),
            csrf: self.session.csrf_token.clone(),
            section,
            notice: flash.0,
        }
    }
}

/// A state-changing form of a signed-in admin whose CSRF token checked out: every console POST
/// with a plain form takes one, so that none can forget the check. The body is read as `csrf`
/// first, then as `T` (which need not name `csrf`; unknown fields are ignored).
pub(crate) struct Checked<T> {
    pub signed: Signed,
    pub form: T,
}

/// A form with no field but the CSRF token.
#[derive(Deserialize)]
pub(crate) struct NoFields {}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: serde::de::DeserializeOwned> FromRequest<AppState> for Checked<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let csrf: CsrfField = serde_urlencoded::from_bytes(&bytes).map_err(|e| bad_form(&e))?;
        signed.check_csrf(&csrf.csrf)?;
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| bad_form(&e))?;
        Ok(Self { signed, form })
    }
}

fn bad_form(e: &serde_urlencoded::de::Error) -> Response {
    ApiError::from(keyward_service::Error::InvalidInput(format!(
        "the form did not read: {e}"
    )))
    .into_response()
}

/// A notice shown at the top of a page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Notice {
    /// `ok` or `error`.
    pub kind: String,
    /// The API's error code, for an error.
    pub code: Option<String>,
    pub message: String,
}

impl Notice {
    pub fn ok(message: impl Into<String>) -> Self {
        Self {
            kind: "ok".into(),
            code: None,
            message: message.into(),
        }
    }

    /// The service error as the API would answer it: its code and message.
    pub fn error(err: keyward_service::Error) -> Self {
        Self::from_api(&ApiError::from(err))
    }

    /// An API error's code and message.
    pub fn from_api(api: &ApiError) -> Self {
        Self {
            kind: "error".into(),
            code: Some(api.code().to_owned()),
            message: api.message().to_owned(),
        }
    }
}

/// The notice the previous POST left in the flash cookie, if any.
pub(crate) struct Flash(pub Option<Notice>);

impl<S: Send + Sync> FromRequestParts<S> for Flash {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            cookie(&parts.headers, FLASH_COOKIE)
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                .and_then(|bytes| serde_json::from_slice(&bytes).ok()),
        ))
    }
}

/// The parts of the layout.
pub(crate) struct Frame {
    /// `Name <email>` of the signed-in admin; `None` on the sign-in and enrollment pages.
    pub admin: Option<String>,
    pub csrf: String,
    pub section: &'static str,
    pub notice: Option<Notice>,
}

impl Frame {
    /// The frame of a page nobody is signed in to.
    pub fn anonymous() -> Self {
        Self {
            admin: None,
            csrf: String::new(),
            section: "",
            notice: None,
        }
    }

    /// Replaces the notice.
    pub fn with_notice(mut self, notice: Notice) -> Self {
        self.notice = Some(notice);
        self
    }
}

/// Renders a page and clears the flash cookie (its notice is now shown).
pub(crate) fn render(template: &impl Template) -> Response {
    render_with(StatusCode::OK, template)
}

/// [`render`] with another status (an error re-rendered in place).
pub(crate) fn render_with(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            if let Ok(clear) = HeaderValue::from_str(&set_cookie(FLASH_COOKIE, "", 0)) {
                response.headers_mut().append(header::SET_COOKIE, clear);
            }
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// The answer to a POST: back to `to` (303), with the outcome in the flash cookie.
pub(crate) fn after_action(to: &str, outcome: Result<String, keyward_service::Error>) -> Response {
    let notice = match outcome {
        Ok(message) => Notice::ok(message),
        Err(e) => Notice::error(e),
    };
    let mut notice = notice;
    if notice.message.chars().count() > FLASH_MAX_CHARS {
        notice.message = notice
            .message
            .chars()
            .take(FLASH_MAX_CHARS)
            .collect::<String>()
            + "…";
    }
    let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&notice).unwrap_or_default());
    let mut response = Redirect::to(to).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&set_cookie(FLASH_COOKIE, &value, 60)) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
