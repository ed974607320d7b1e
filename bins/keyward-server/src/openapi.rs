//! The OpenAPI document: built from the same router that serves the requests.

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// Name of the admin bearer-token security scheme in the document.
pub(crate) const ADMIN_TOKEN: &str = "admin_token";

/// Name of the workstation-credential security scheme of the agent API.
pub(crate) const WORKSTATION: &str = "workstation";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "keyward",
        description = "Directory sync, hardware-key lifecycle and password rotation for Active Directory. \
                       Every /api/v1 route except this document and the agent API needs `Authorization: Bearer <admin token>` \
                       (create one with `keyward token create --name NAME --scope SCOPES`) that has the scope named in the route's \
                       security requirement (read, sync, keys, workstations, passwords; admin allows all): 403 insufficient_scope \
                       otherwise, 401 token_expired for an expired token. The agent API takes a workstation's credential.",
    ),
    modifiers(&AdminTokenScheme),
    tags(
        (name = "health", description = "Liveness, readiness and metrics"),
        (name = "employees", description = "People keyward manages"),
        (name = "keys", description = "Hardware keys and their lifecycle"),
        (name = "sync", description = "Directory sync runs"),
        (name = "invitations", description = "Invitations and the enrollment page"),
        (name = "workstations", description = "Workstations that run the agent"),
        (name = "passwords", description = "Password rotation state and requests"),
        (name = "tokens", description = "Admin API tokens"),
        (name = "admins", description = "Console administrators"),
        (name = "audit", description = "The audit log"),
        (name = "agent", description = "The workstation agent API (docs/agent-api.md)"),
        (name = "meta", description = "This document"),
    )
)]
pub(crate) struct ApiDoc;

struct AdminTokenScheme;

impl Modify for AdminTokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            ADMIN_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("kw_<id>_<secret>")
                    .build(),
            ),
        );
        components.add_security_scheme(
            WORKSTATION,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("kww_<id>_<secret>")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document of every route the server serves, as JSON.
pub fn openapi_document() -> String {
    let (_, mut doc) = crate::serve::routes().split_for_parts();
    document_token_refusals(&mut doc);
    let mut value = match serde_json::to_value(&doc) {
        Ok(value) => value,
        Err(e) => return format!("{{\"error\":\"{e}\"}}"),
    };
    crate::openapi_rules::complete(&mut value);
    serde_json::to_string_pretty(&value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Adds to every operation that takes an admin token the answers the token check gives: 401
/// (`unauthorized`, `token_expired`) and 403 (`insufficient_scope`), unless the route documents
/// its own; and says which credential the 401 of an agent operation wants.
fn document_token_refusals(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let takes = |scheme: &str| {
                operation.security.iter().flatten().any(|requirement| {
                    serde_json::to_value(requirement).is_ok_and(|v| v.get(scheme).is_some())
                })
            };
            let (takes_admin_token, takes_workstation) = (takes(ADMIN_TOKEN), takes(WORKSTATION));
            let responses = &mut operation.responses.responses;
            if takes_workstation {
                responses.insert(
                    "401".into(),
                    error(
                        "`unauthorized`: no valid workstation credential (or, under mutual TLS, \
                         no client certificate); the message says which",
                    ),
                );
            }
            if !takes_admin_token {
                continue;
            }
            responses
                .entry("401".into())
                .or_insert_with(|| error("`unauthorized` (no valid token) or `token_expired`"));
            responses.entry("403".into()).or_insert_with(|| {
                error("`insufficient_scope`: the token lacks the scope this route needs")
            });
        }
    }
}
