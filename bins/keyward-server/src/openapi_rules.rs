//! Completes the OpenAPI document with what every route shares, so the document says every
//! status a route can answer and the real constraints of its parameters (a fuzzer of the
//! document, schemathesis in CI, finds any gap):
//!
//! - the answers of the extractors and layers around every handler: `415`, `413` and `422` for
//!   a JSON body, `422` for a query string, `503` for a timeout or the concurrency limit, `405`
//!   is not listed (methods are);
//! - the schema of each path and query parameter, by its name: one name, one meaning, across
//!   every route (a serial is always a serial; the one exception is `after`, a cursor, which is
//!   a serial for the keys list and an id elsewhere).

use serde_json::{Map, Value, json};

/// E-mail addresses as `keyward_model::Email` accepts them: no spaces or control characters,
/// one `@`, a domain with a dot inside.
pub(crate) const EMAIL_PATTERN: &str = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s.\x00-\x1f\x7f-\x9f][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s.\x00-\x1f\x7f-\x9f]+$";

/// An employee: an id (a UUID) or an e-mail address.
const EMPLOYEE_PATTERN: &str = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s.\x00-\x1f\x7f-\x9f][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s.\x00-\x1f\x7f-\x9f]+)$";

/// A key serial as `keyward_keys::KeySerial` accepts it.
pub(crate) const SERIAL_PATTERN: &str = r"^[A-Za-z0-9_-]{1,64}$";

/// A token or directory name: letters, digits, `-`, `_` and `.`.
const NAME_PATTERN: &str = r"^[A-Za-z0-9._-]{1,64}$";

/// The schema of a parameter, by name (path and query alike), and whether a route's own
/// schema for it is kept.
fn parameter_schema(path: &str, name: &str) -> Option<Value> {
    let uuid = json!({ "type": "string", "format": "uuid" });
    Some(match name {
        "serial" => json!({ "type": "string", "pattern": SERIAL_PATTERN }),
        "after" if path == "/api/v1/keys" => json!({ "type": "string", "pattern": SERIAL_PATTERN }),
        "id" | "object_guid" | "after" => uuid,
        "employee" => json!({ "type": "string", "pattern": EMPLOYEE_PATTERN, "maxLength": 254 }),
        "email" => json!({ "type": "string", "pattern": EMAIL_PATTERN, "maxLength": 254 }),
        "name" | "directory" => json!({ "type": "string", "pattern": NAME_PATTERN }),
        "status" if path.starts_with("/api/v1/keys") => json!({
            "type": "string",
            "enum": ["ready", "reserved", "active", "locked", "suspended", "deactivated", "compromised"],
        }),
        "limit" if path == "/api/v1/audit" => {
            json!({ "type": "integer", "format": "int64", "minimum": 1, "maximum": 10_000 })
        }
        "limit" => json!({ "type": "integer", "format": "int32", "minimum": 1, "maximum": 1000 }),
        "before" => json!({ "type": "integer", "format": "int64", "minimum": 1 }),
        "since" | "until" => json!({ "type": "string", "format": "date-time" }),
        "actor" | "subject" | "action" => {
            json!({ "type": "string", "maxLength": 300, "pattern": r"^[^\x00-\x1f\x7f-\x9f]*$" })
        }
        _ => return None,
    })
}

/// Every completion, on the serialized document.
pub(crate) fn complete(doc: &mut Value) {
    constrain_bodies(doc);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (_method, operation) in item.iter_mut() {
            let Some(operation) = operation.as_object_mut() else {
                continue;
            };
            constrain_parameters(path, operation);
            document_layer_answers(path, operation);
        }
    }
}

fn constrain_parameters(path: &str, operation: &mut Map<String, Value>) {
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters {
        let name = parameter["name"].as_str().unwrap_or_default().to_owned();
        if let Some(schema) = parameter_schema(path, &name) {
            parameter["schema"] = schema;
        }
    }
}

fn error_answer(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } },
    })
}

/// The statuses the extractors and layers give, where the route does not say its own.
fn document_layer_answers(path: &str, operation: &mut Map<String, Value>) {
    let has_body = operation.contains_key("requestBody");
    let has_query = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
    let has_path = path.contains('{');
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| error_answer(description));
    };
    if has_body {
        add(
            "415",
            "`invalid_input`: the body is not `Content-Type: application/json`",
        );
        add(
            "413",
            "`invalid_input`: the body is larger than the server accepts",
        );
        add(
            "422",
            "`invalid_input`: the body is not valid JSON of this shape, or breaks a rule",
        );
    }
    if has_query || has_path {
        add(
            "422",
            "`invalid_input`: a parameter breaks a rule (the message says which)",
        );
    }
    add(
        "503",
        "`unavailable`: the request took longer than `http.request_timeout_secs`, or \
         `http.max_concurrent_requests` are in flight (with `Retry-After`)",
    );
}

/// The reasons each key transition takes (the reason request is shared; its values are not).
const REASONS: [(&str, &[&str]); 3] = [
    ("/lock", &["locked_by_invalid_pin", "admin"]),
    (
        "/deactivate",
        &["withdrawal", "broken", "lost", "stolen", "admin"],
    ),
    ("/compromise", &["lost", "stolen"]),
];

/// What field attributes cannot say: the items of a list, and the reasons of each route.
fn constrain_bodies(doc: &mut Value) {
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some((_, reasons)) = REASONS.iter().find(|(end, _)| path.ends_with(end)) else {
                continue;
            };
            let body = &mut item["post"]["requestBody"]["content"]["application/json"]["schema"];
            if body.is_object() {
                *body = json!({
                    "type": "object",
                    "required": ["reason"],
                    "additionalProperties": false,
                    "properties": { "reason": { "type": "string", "enum": reasons } },
                });
            }
        }
    }
    let serials = &mut doc["components"]["schemas"]["ImportKeysRequest"]["properties"]["serials"];
    if serials.is_object() {
        serials["items"] = json!({ "type": "string", "pattern": SERIAL_PATTERN });
        serials["uniqueItems"] = json!(true);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn document() -> Value {
        serde_json::from_str(&crate::openapi::openapi_document()).unwrap()
    }

    #[test]
    fn every_body_route_documents_the_body_refusals_and_every_route_503() {
        let doc = document();
        let mut bodies = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = &op["responses"];
                assert!(responses["503"].is_object(), "{method} {path}: 503");
                if op.get("requestBody").is_some() {
                    bodies += 1;
                    for status in ["413", "415", "422"] {
                        assert!(responses[status].is_object(), "{method} {path}: {status}");
                    }
                }
            }
        }
        assert!(bodies >= 15, "{bodies} routes with a body");
    }

    #[test]
    fn a_parameter_has_one_schema_whatever_the_route() {
        let doc = document();
        let mut serials = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    match p["name"].as_str().unwrap() {
                        "serial" => {
                            serials += 1;
                            assert_eq!(
                                p["schema"]["pattern"],
                                super::SERIAL_PATTERN,
                                "{method} {path}"
                            );
                        }
                        "limit" => assert_eq!(p["schema"]["minimum"], 1, "{method} {path}"),
                        // The keys list's cursor is the last serial of a page.
                        "after" if path == "/api/v1/keys" => assert_eq!(
                            p["schema"]["pattern"],
                            super::SERIAL_PATTERN,
                            "{method} {path}"
                        ),
                        "id" | "after" => {
                            assert_eq!(p["schema"]["format"], "uuid", "{method} {path}");
                        }
                        _ => {}
                    }
                }
            }
        }
        assert!(serials >= 20, "{serials} serial parameters");
        let lock = &doc["paths"]["/api/v1/keys/{serial}/lock"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["properties"]["reason"]["enum"];
        assert_eq!(lock, &serde_json::json!(["locked_by_invalid_pin", "admin"]));
    }
}
