//! Invitations: the admin API, and the enrollment page the invitation link opens.
//!
//! `GET /enroll/{token}` only shows; it never uses the link, because mail scanners open links
//! before people do. The authenticator app uses it with `POST /enroll/{token}/accept` after it
//! read the QR code. Both answer without an admin token: the link token is the credential.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use keyward_service::EnrollView;

use crate::auth::Authenticated;
use crate::dto::{ApiPath, ErrorBody, InvitationDto, MailSendDto};
use crate::error::ApiError;
use crate::state::AppState;

/// Invitations, newest first.
#[utoipa::path(get, path = "/api/v1/invitations", tag = "invitations", security(("admin_token" = ["read"])),
    responses((status = 200, body = [InvitationDto]), (status = 401, body = ErrorBody)))]
pub(crate) async fn list_invitations(
    State(state): State<AppState>,
) -> Result<Json<Vec<InvitationDto>>, ApiError> {
    let all = state.keyward.mail().invitations().await?;
    Ok(Json(all.into_iter().map(InvitationDto::from).collect()))
}

/// Sends an invitation again with a fresh link and expiry; its old links stop working. 409 for
/// an invitation already used, 422 for a disabled employee or one without an e-mail.
#[utoipa::path(post, path = "/api/v1/invitations/{id}/resend", tag = "invitations",
    params(("id" = uuid::Uuid, Path, description = "Invitation id")), security(("admin_token" = ["sync"])),
    responses((status = 200, body = InvitationDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`invitation_state`: the invitation was already used", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn resend_invitation(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<InvitationDto>, ApiError> {
    Ok(Json(
        state
            .keyward
            .mail()
            .resend(&id, &auth.actor())
            .await?
            .into(),
    ))
}

/// Revokes an invitation: its links stop working and unsent messages are cancelled. 409 for an
/// invitation already used, which stays accepted.
#[utoipa::path(post, path = "/api/v1/invitations/{id}/revoke", tag = "invitations",
    params(("id" = uuid::Uuid, Path, description = "Invitation id")), security(("admin_token" = ["sync"])),
    responses((status = 200, body = InvitationDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`invitation_state`: the invitation was already used", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn revoke_invitation(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<InvitationDto>, ApiError> {
    Ok(Json(
        state
            .keyward
            .mail()
            .revoke(&id, &auth.actor())
            .await?
            .into(),
    ))
}

/// Sends every due message of the outbox now (the server's mailer does this on its own every
/// `mail.send_interval_secs`).
#[utoipa::path(post, path = "/api/v1/mail/send", tag = "invitations", security(("admin_token" = ["sync"])),
    responses((status = 200, body = MailSendDto), (status = 401, body = ErrorBody),
        (status = 409, description = "`invalid_config`: mail is off (no `mail.smtp_host`)", body = ErrorBody)))]
pub(crate) async fn send_mail(
    State(state): State<AppState>,
) -> Result<Json<MailSendDto>, ApiError> {
    if state.keyward.settings().mail.smtp_host.is_empty() {
        return Err(ApiError::turned_off("mail is off: set mail.smtp_host"));
    }
    Ok(Json(state.keyward.mail().send_due().await?.into()))
}

/// The enrollment page an invitation link opens: who it is for and the QR code for the
/// authenticator app; or why the link no longer works.
#[utoipa::path(get, path = "/enroll/{token}", tag = "invitations",
    params(("token" = String, Path, description = "The link token from the invitation")),
    responses((status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 404, description = "Unknown link", content_type = "text/html", body = String),
        (status = 410, description = "Used or expired link", content_type = "text/html", body = String)))]
pub(crate) async fn enroll_page(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
) -> Response {
    match state.keyward.mail().enroll_view(&token).await {
        Ok(EnrollView::Valid { display_name, email, qr_svg, payload, expires_at }) => Html(page(
            "Enroll your security key",
            &format!(
                "<p>This invitation is for <b>{}</b> &lt;{}&gt;.</p><p>Scan this code with the authenticator app. The link works once, until {}.</p><div>{qr_svg}</div><p><small>{}</small></p>",
                escape(&display_name),
                escape(&email),
                expires_at.format("%Y-%m-%d %H:%M UTC"),
                escape(&payload)
            ),
        ))
        .into_response(),
        Ok(EnrollView::Used) => (StatusCode::GONE, Html(page("Link already used", "<p>This invitation link was already used. Ask your administrator for a new invitation if you need one.</p>"))).into_response(),
        Ok(EnrollView::Expired) => (StatusCode::GONE, Html(page("Link expired", "<p>This invitation link has expired. Ask your administrator to send it again.</p>"))).into_response(),
        Ok(EnrollView::Unknown) => (StatusCode::NOT_FOUND, Html(page("Unknown link", "<p>This invitation link is not valid. It may have been replaced by a newer invitation or revoked.</p>"))).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Uses an invitation link (single use). Called by the authenticator app.
#[utoipa::path(post, path = "/enroll/{token}/accept", tag = "invitations",
    params(("token" = String, Path, description = "The link token from the invitation")),
    responses((status = 204, description = "Accepted"), (status = 404, body = ErrorBody),
        (status = 409, description = "`invitation_state`: the invitation was already used, or the link expired", body = ErrorBody)))]
pub(crate) async fn accept_invitation(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.keyward.mail().accept(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title} - keyward</title></head><body><h1>{title}</h1>{body}</body></html>"
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
