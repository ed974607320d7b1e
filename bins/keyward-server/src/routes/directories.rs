//! `/api/v1/directories`: the configured directories (never their passwords) and their
//! connection test, run from the server.

use axum::Json;
use axum::extract::State;

use crate::dto::{ApiPath, DirectoryDto, DirectoryTestDto, ErrorBody};
use crate::error::ApiError;
use crate::state::AppState;

/// The configured directories.
#[utoipa::path(get, path = "/api/v1/directories", tag = "sync", security(("admin_token" = ["read"])),
    responses((status = 200, body = [DirectoryDto]), (status = 401, body = ErrorBody)))]
pub(crate) async fn list_directories(State(state): State<AppState>) -> Json<Vec<DirectoryDto>> {
    Json(
        state
            .keyward
            .directories()
            .list()
            .iter()
            .map(DirectoryDto::from)
            .collect(),
    )
}

/// Connects to a directory from the server, binds, and reports what the server supports and
/// each group's member count (read-only).
#[utoipa::path(post, path = "/api/v1/directories/{name}/test", tag = "sync",
    params(("name" = String, Path, description = "Directory name")),
    security(("admin_token" = ["sync"])),
    responses((status = 200, body = DirectoryTestDto), (status = 401, body = ErrorBody),
        (status = 404, description = "No such directory", body = ErrorBody),
        (status = 502, description = "The directory failed (unreachable, TLS, bind, group not found)", body = ErrorBody)))]
pub(crate) async fn test_directory(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<DirectoryTestDto>, ApiError> {
    Ok(Json(state.keyward.directories().test(&name).await?.into()))
}
