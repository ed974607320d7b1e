//! `/api/v1/agent`: the workstation agent API (docs/agent-api.md). Registration is public;
//! everything else needs the workstation's own credential, and every key operation needs the
//! key to be held by the calling, approved workstation. This is the only place a password
//! leaves the server.

use axum::Extension;
use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use keyward_service::{AckItem, Registration, SecretString, UserChange};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AgentCaller;
use crate::dto::{ApiJson, ApiPath, ErrorBody, REDACTED};
use crate::error::ApiError;
use crate::ratelimit::client_address;
use crate::state::AppState;

/// A workstation asks to be registered.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterRequest {
    /// Its name, 1–128 printable characters.
    #[schema(
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    /// The server's registration secret, when it is configured with one
    /// (`agent.registration_secret_env` or `agent.registration_secret_file`).
    /// (No `Debug` on this type: it holds the secret.)
    #[serde(default)]
    registration_secret: Option<String>,
}

/// A registered workstation and, once, its credential.
#[derive(Serialize, ToSchema)]
pub(crate) struct RegisteredDto {
    workstation_id: Uuid,
    name: String,
    status: String,
    /// The client address the server recorded for it.
    source_address: Option<String>,
    /// The first 8 hex digits of the SHA-256 of the credential: what `keyward workstations
    /// list` shows, so that an administrator can tell two workstations of the same name apart.
    credential_fingerprint: String,
    /// `Authorization: Bearer <credential>` on every other agent call. Shown only here.
    credential: String,
}

/// A workstation's own view of itself.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkstationSelfDto {
    workstation_id: Uuid,
    name: String,
    /// `pending`, `approved` or `revoked`.
    status: String,
}

/// A key's status as the agent sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AgentKeyDto {
    serial: String,
    status: String,
    /// On `seen`: whether this workstation holds the key (it presented the key proof). Only the
    /// holder gets the key's commands and passwords.
    #[serde(skip_serializing_if = "Option::is_none")]
    held: Option<bool>,
}

/// A key's status after an activation or a resume.
#[derive(Serialize, ToSchema)]
pub(crate) struct ActivatedDto {
    serial: String,
    status: String,
    /// When the key became Active: the key proof, to be stored on the key; shown only here.
    /// Another workstation must present it (header `Keyward-Key-Proof` on `seen`) to take the
    /// Active key over.
    #[serde(skip_serializing_if = "Option::is_none")]
    key_proof: Option<String>,
}

/// A new key proof for an Active key the workstation holds.
#[derive(Serialize, ToSchema)]
pub(crate) struct KeyProofDto {
    serial: String,
    /// The new proof; the previous one no longer works. Shown only here.
    key_proof: String,
}

/// The header that carries a key proof.
const KEY_PROOF_HEADER: &str = "keyward-key-proof";

/// An activation code the user typed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentCodeRequest {
    code: String,
}

/// A lock the agent reports.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentLockRequest {
    /// `locked_by_invalid_pin`.
    reason: String,
}

/// One account the key must write or remove.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccountDeliveryDto {
    directory: String,
    object_guid: Uuid,
    login: String,
    user_principal_name: Option<String>,
    /// `write` or `remove`.
    action: String,
    version: i64,
    /// Present for a write.
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

/// What the key must do.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PendingDto {
    serial: String,
    status: String,
    commands: Vec<String>,
    accounts: Vec<AccountDeliveryDto>,
}

/// One account item the key wrote.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AckItemDto {
    directory: String,
    object_guid: Uuid,
    version: i64,
}

/// What the key wrote.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AckRequest {
    #[serde(default)]
    wiped: bool,
    #[serde(default)]
    accounts: Vec<AckItemDto>,
}

/// How many acknowledged items were expected.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AckDto {
    accepted: usize,
}

/// A password the user changed on the agent.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserPasswordRequest {
    /// `key_only` or `key_and_domain`.
    mode: String,
    /// The new password, for `key_and_domain`.
    #[serde(default)]
    password: Option<String>,
}

/// The account's password state after the change.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserPasswordDto {
    version: i64,
    state: String,
}

// Hand-written `Debug` for every body that carries a secret: the secret prints as redacted.

impl std::fmt::Debug for RegisteredDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredDto")
            .field("workstation_id", &self.workstation_id)
            .field("name", &self.name)
            .field("status", &self.status)
            .field("source_address", &self.source_address)
            .field("credential_fingerprint", &self.credential_fingerprint)
            .field("credential", &REDACTED)
            .finish()
    }
}

impl std::fmt::Debug for ActivatedDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivatedDto")
            .field("serial", &self.serial)
            .field("status", &self.status)
            .field("key_proof", &self.key_proof.as_ref().map(|_| REDACTED))
            .finish()
    }
}

impl std::fmt::Debug for KeyProofDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyProofDto")
            .field("serial", &self.serial)
            .field("key_proof", &REDACTED)
            .finish()
    }
}

impl std::fmt::Debug for AgentCodeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentCodeRequest")
            .field("code", &REDACTED)
            .finish()
    }
}

impl std::fmt::Debug for AccountDeliveryDto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountDeliveryDto")
            .field("directory", &self.directory)
            .field("object_guid", &self.object_guid)
            .field("login", &self.login)
            .field("user_principal_name", &self.user_principal_name)
            .field("action", &self.action)
            .field("version", &self.version)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .finish()
    }
}

impl std::fmt::Debug for UserPasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPasswordRequest")
            .field("mode", &self.mode)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// Registers a workstation; an administrator must approve it. Rate-limited per client address
/// (429 with `Retry-After`); needs the registration secret when the server has one (403
/// `registration_refused`).
#[utoipa::path(post, path = "/api/v1/agent/register", tag = "agent", request_body = RegisterRequest,
    responses((status = 201, body = RegisteredDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "Too many registrations from this address; see Retry-After", body = ErrorBody)))]
pub(crate) async fn register(
    State(state): State<AppState>,
    request: Request,
) -> Result<(StatusCode, Json<RegisteredDto>), ApiError> {
    // The address first, then the bucket, and only then the body: a flood costs one lookup.
    let Some(ConnectInfo(peer)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    else {
        return Err(keyward_service::Error::Internal {
            source: "the server does not know the peer address (serve with connect info)".into(),
        }
        .into());
    };
    let address = client_address(
        peer.ip(),
        request.headers(),
        &state.keyward.settings().agent.trusted_proxies,
    );
    if let Err(retry_after) = state.registration_limiter.check(address) {
        // Debug only: a flood would otherwise flood the log; 429s are counted in the metrics.
        tracing::debug!(%address, retry_after, "workstation registration rate-limited");
        return Err(ApiError::rate_limited(
            retry_after,
            format!(
                "too many registrations from this address; retry in {retry_after} s \
                 (agent.registration_burst, agent.registration_per_minute)"
            ),
        ));
    }
    let ApiJson(body) = ApiJson::<RegisterRequest>::from_request(request, &state).await?;
    let presented = body.registration_secret.map(SecretString::new);
    let result = state
        .keyward
        .agent()
        .register_with(&Registration {
            name: &body.name,
            source_address: Some(address),
            secret: presented.as_ref().map(SecretString::expose),
        })
        .await;
    let (ws, credential) = match result {
        Ok(done) => done,
        Err(e) => {
            if e.code() == keyward_service::ErrorCode::RegistrationRefused {
                tracing::warn!(%address, "workstation registration without the right secret");
            }
            return Err(e.into());
        }
    };
    tracing::info!(
        workstation = %ws.id,
        %address,
        fingerprint = %ws.credential_fingerprint,
        "workstation registered"
    );
    Ok((
        StatusCode::CREATED,
        Json(RegisteredDto {
            workstation_id: ws.id,
            name: ws.name,
            status: ws.status.as_str().to_owned(),
            source_address: ws.source_address,
            credential_fingerprint: ws.credential_fingerprint,
            credential: credential.expose().to_owned(),
        }),
    ))
}

/// The calling workstation and its status (also while it waits for approval).
#[utoipa::path(get, path = "/api/v1/agent/me", tag = "agent", security(("workstation" = [])),
    responses((status = 200, body = WorkstationSelfDto), (status = 401, body = ErrorBody)))]
pub(crate) async fn me(
    Extension(AgentCaller(ws)): Extension<AgentCaller>,
) -> Json<WorkstationSelfDto> {
    Json(WorkstationSelfDto {
        workstation_id: ws.id,
        name: ws.name,
        status: ws.status.as_str().to_owned(),
    })
}

/// The workstation reports a key it sees. It holds the key (gets its passwords and commands)
/// only after presenting the key proof stored on the key; without it an Active key is refused
/// (403 `key_proof_required`) and a key in another status answers `held: false`.
#[utoipa::path(post, path = "/api/v1/agent/keys/{serial}/seen", tag = "agent", security(("workstation" = [])),
    params(("serial" = String, Path, description = "Key serial number"),
        ("Keyward-Key-Proof" = Option<String>, Header, description = "The key proof stored on the key (needed to hold the key)")),
    responses((status = 200, body = AgentKeyDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn seen(
    State(state): State<AppState>,
    Extension(AgentCaller(ws)): Extension<AgentCaller>,
    ApiPath(serial): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Json<AgentKeyDto>, ApiError> {
    let proof = key_proof_header(&headers)?;
    let seen = state
        .keyward
        .agent()
        .seen(&ws, &serial, proof.as_ref())
        .await?;
    let mut dto = key_dto(&serial, seen.status.as_str());
    dto.held = Some(seen.held);
    Ok(Json(dto))
}

/// The key proof a request carries in `Keyward-Key-Proof`, if any.
fn key_proof_header(headers: &HeaderMap) -> Result<Option<SecretString>, ApiError> {
    headers
        .get(KEY_PROOF_HEADER)
        .map(|value| {
            value
                .to_str()
                .map(|text| SecretString::new(text.trim().to_owned()))
                .map_err(|_| {
                    ApiError::invalid_input("the Keyward-Key-Proof header must be printable ASCII")
                })
        })
        .transpose()
}

/// A new key proof for an Active key this workstation holds (an agent that lost the first one
/// before it stored it on the key); the previous proof stops working.
#[utoipa::path(post, path = "/api/v1/agent/keys/{serial}/proof", tag = "agent", security(("workstation" = [])),
    params(("serial" = String, Path, description = "Key serial number")),
    responses((status = 200, body = KeyProofDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(crate) async fn renew_proof(
    State(state): State<AppState>,
    Extension(AgentCaller(ws)): Extension<AgentCaller>,
    ApiPath(serial): ApiPath<String>,
) -> Result<Json<KeyProofDto>, ApiError> {
    let proof = state.keyward.agent().renew_proof(&ws, &serial).await?;
    Ok(Json(KeyProofDto {
        serial: serial.trim().to_owned(),
        key_proof: proof.expose().to_owned(),
    }))
}

/// Activates (or resumes) the key with the code the user typed.
#[utoipa::path(post, path = "/api/v1/agent/keys/{serial}/activate", tag = "agent", security(("workstation" = [])),
    params(("serial" = String, Path, description = "Key serial number")), request_body = AgentCodeRequest,
    responses((status = 200, body = ActivatedDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn activate(
    State(state): State<AppState>,
    Extension(AgentCaller(ws)): Extension<AgentCaller>,
    ApiPath(serial): ApiPath<String>,
    ApiJson(body): ApiJson<AgentCodeRequest>,
) -> Result<Json<ActivatedDto>, ApiError> {
    let activated = state
        .keyward
        .agent()
        .activate(&ws, &serial, &body.code)
        .await?;
    Ok(Json(ActivatedDto {
        serial: serial.trim().to_owned(),
        status: activated.status.as_str().to_owned(),
        key_proof: activated.key_proof.map(|p| p.expose().to_owned()),
    }))
}

/// Reports a lock (wrong PIN).
#[utoipa::path(post, path = "/api/v1/agent/keys/{serial}/lock", tag = "agent", security(("workstation" = [])),
    params(("serial" = String, Path, description = "Key serial number")), request_body = AgentLockRequest,
    responses((status = 200, body = AgentKeyDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn lock(
    State(state): State<AppState>,
    Extension(AgentCaller(ws)): Extension<AgentCaller>,
    ApiPath(serial): ApiPath<String>,
    ApiJson(body): ApiJson<AgentLockRequest>,
) -> Result<Json<AgentKeyDto>, ApiError> {
    let status = state
        .keyward
        .agent()
        .lock(&ws, &serial, &body.reason)
        .await?;
    Ok(Json(key_dto(&serial, status.as_str())))
}

/// What the key must do: commands and account writes (with their passwords) or removals.
#[utoipa::path(get, path = "/api/v1/agent/keys/{serial}/pending", tag = "agent", security(("workstation" = [])),
    params(("serial" = String, Path, description = "Key serial number")),
    responses((status = 200, body = PendingDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(crate) async fn pending(
    State(state): State<AppState>,
    Extension(AgentCaller(ws)): Extension<AgentCaller>,
    ApiPath(serial): ApiPath<String>,
) -> Result<Json<PendingDto>, ApiError> {
    let work = state.keyward.agent().pending(&ws, &serial).await?;
    Ok(Json(PendingDto {
        serial: work.serial,
        status: work.status.as_str().to_owned(),
        commands: work.commands.iter().map(|c| (*c).to_owned()).collect(),
        accounts: work
            .accounts
            .into_iter()
            .map(|a| AccountDeliveryDto {
                directory: a.directory,
                object_guid: a.object_guid,
                login: a.login,
                user_principal_name: a.user_principal_name,
                action: a.action.to_owned(),
                version: a.version,
                password: a.password.as_ref().map(|p| p.expose().to_owned()),
            })
            .collect(),
    }))
}

/// Acknowledges what the key wrote; the directory step of each acknowledged rotation follows.
/// Account versions only for an Active key; `wiped: true` only with the key proof read from the
/// key before the wipe, in `Keyward-Key-Proof` (403 `key_proof_required` otherwise).
#[utoipa::path(post, path = "/api/v1/agent/keys/{serial}/ack", tag = "agent", security(("workstation" = [])),
    params(("serial" = String, Path, description = "Key serial number"),
        ("Keyward-Key-Proof" = Option<String>, Header, description = "The key proof (needed with `wiped: true`)")),
    request_body = AckRequest,
    responses((status = 200, body = AckDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(crate) async fn ack(
    State(state): State<AppState>,
    Extension(AgentCaller(ws)): Extension<AgentCaller>,
    ApiPath(serial): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AckRequest>,
) -> Result<Json<AckDto>, ApiError> {
    let proof = key_proof_header(&headers)?;
    let wipe = match (body.wiped, proof) {
        (false, _) => None,
        (true, Some(proof)) => Some(proof),
        (true, None) => {
            return Err(keyward_service::Error::KeyProofRequired(format!(
                "confirming the wipe of key {} needs the key proof read from the key before the \
                 wipe (header Keyward-Key-Proof)",
                serial.trim()
            ))
            .into());
        }
    };
    let items: Vec<AckItem> = body
        .accounts
        .into_iter()
        .map(|a| AckItem {
            directory: a.directory,
            object_guid: a.object_guid,
            version: a.version,
        })
        .collect();
    let accepted = state
        .keyward
        .agent()
        .acknowledge(&ws, &serial, wipe.as_ref(), &items)
        .await?;
    if accepted > 0 {
        state.rotation_wake.notify_one();
    }
    Ok(Json(AckDto { accepted }))
}

/// The user changed an account's password: on the key only, or on the key and in the domain.
#[utoipa::path(post, path = "/api/v1/agent/keys/{serial}/accounts/{directory}/{object_guid}/password",
    tag = "agent", security(("workstation" = [])),
    params(("serial" = String, Path, description = "Key serial number"),
        ("directory" = String, Path, description = "Directory name"),
        ("object_guid" = Uuid, Path, description = "The account's objectGUID")),
    request_body = UserPasswordRequest,
    responses((status = 202, body = UserPasswordDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 501, body = ErrorBody)))]
pub(crate) async fn user_password(
    State(state): State<AppState>,
    Extension(AgentCaller(ws)): Extension<AgentCaller>,
    ApiPath((serial, directory, object_guid)): ApiPath<(String, String, Uuid)>,
    ApiJson(body): ApiJson<UserPasswordRequest>,
) -> Result<(StatusCode, Json<UserPasswordDto>), ApiError> {
    let change = match (body.mode.as_str(), body.password) {
        ("key_only", None) => UserChange::KeyOnly,
        ("key_and_domain", Some(p)) => UserChange::KeyAndDomain(SecretString::new(p)),
        ("key_only", Some(_)) => {
            return Err(keyward_service::Error::InvalidInput(
                "mode key_only takes no password: the server never needs it".into(),
            )
            .into());
        }
        ("key_and_domain", None) => {
            return Err(keyward_service::Error::InvalidInput(
                "mode key_and_domain needs the new password".into(),
            )
            .into());
        }
        (other, _) => {
            return Err(keyward_service::Error::InvalidInput(format!(
                "mode {other:?} is not key_only or key_and_domain"
            ))
            .into());
        }
    };
    let after = state
        .keyward
        .agent()
        .user_change(&ws, &serial, &directory, object_guid, change)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(UserPasswordDto {
            version: after.pending.as_ref().map_or(after.version, |p| p.version),
            state: after.state.as_str().to_owned(),
        }),
    ))
}

fn key_dto(serial: &str, status: &str) -> AgentKeyDto {
    AgentKeyDto {
        serial: serial.trim().to_owned(),
        status: status.to_owned(),
        held: None,
    }
}

#[cfg(test)]
mod debug_redaction {
    use uuid::Uuid;

    use super::{
        AccountDeliveryDto, ActivatedDto, AgentCodeRequest, KeyProofDto, RegisteredDto,
        UserPasswordRequest,
    };

    #[test]
    fn debug_never_shows_a_credential_code_proof_or_password() {
        let secret = "kww_s3cr3t-value";
        let printed = [
            format!(
                "{:?}",
                RegisteredDto {
                    workstation_id: Uuid::nil(),
                    name: "WS-1".into(),
                    status: "pending".into(),
                    source_address: Some("127.0.0.1".into()),
                    credential_fingerprint: "0123abcd".into(),
                    credential: secret.into(),
                }
            ),
            format!(
                "{:?}",
                ActivatedDto {
                    serial: "HK-1".into(),
                    status: "active".into(),
                    key_proof: Some(secret.into()),
                }
            ),
            format!(
                "{:?}",
                KeyProofDto {
                    serial: "HK-1".into(),
                    key_proof: secret.into(),
                }
            ),
            format!(
                "{:?}",
                AgentCodeRequest {
                    code: secret.into()
                }
            ),
            format!(
                "{:?}",
                AccountDeliveryDto {
                    directory: "corp1".into(),
                    object_guid: Uuid::nil(),
                    login: "CORP1\\bob".into(),
                    user_principal_name: None,
                    action: "write".into(),
                    version: 1,
                    password: Some(secret.into()),
                }
            ),
            format!(
                "{:?}",
                UserPasswordRequest {
                    mode: "key_and_domain".into(),
                    password: Some(secret.into()),
                }
            ),
        ];
        for line in printed {
            assert!(!line.contains(secret), "{line}");
            assert!(line.contains("[redacted]"), "{line}");
        }
    }
}
