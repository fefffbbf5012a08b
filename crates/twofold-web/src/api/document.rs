//! Completing the generated OpenAPI document with the answers every operation of a kind
//! can give, so that the document lists every status the server really sends (SEC-45)
//! without each handler repeating them: the body extractor's 400/413/415/422, the session
//! layer's 401 and the CSRF check's 403, the malformed id's 404, and 503 while the
//! database is unreachable. Checked by schemathesis in CI against a real server.

use serde_json::{Value, json};

/// Operations anyone may call without a session cookie (everything else answers 401
/// without one, and 403 to an unsafe request without its `X-CSRF-Token` or while the
/// account's policy asks for 2FA first).
const WITHOUT_SESSION: &[&str] = &[
    "/api/v1/login",
    "/api/v1/setup/{token}",
    "/api/v1/invitations/{token}",
    "/api/v1/password-reset",
    "/api/v1/password-reset/{token}",
    "/api/v1/support/login",
    "/api/v1/login/passkey/challenge",
    "/api/v1/login/passkey",
    "/api/v1/login/lost-device",
    "/api/v1/authz/forward-auth",
    "/api/v1/authz/auth-request",
];

/// Operations whose guesses go through the attempt pipeline (SEC-09, SEC-44): each can
/// answer 429 `too_many_attempts` with `Retry-After`.
const GUESSED: &[&str] = &[
    "/api/v1/login",
    "/api/v1/login/totp",
    "/api/v1/login/sms/verify",
    "/api/v1/login/recovery-code",
    "/api/v1/login/webauthn",
    "/api/v1/login/passkey",
    "/api/v1/me/phone/verify",
    "/api/v1/me/password",
    "/api/v1/me/two-factor/enrollment/code",
    "/api/v1/me/two-factor/enrollment/phone/verify",
    "/api/v1/me/security-keys",
    // The changes that take a fresh password proof (SEC-46), counted like a sign-in.
    "/api/v1/me/security-keys/{id}",
    "/api/v1/me/two-factor",
    "/api/v1/me/two-factor/recovery-codes",
    "/api/v1/me/phone",
    "/api/v1/users/{id}/two-factor",
    "/api/v1/users/{id}/ownership",
    "/api/v1/support/login",
    "/api/v1/support/login/totp",
];

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// What each added status means, in the words of the error codes it carries.
fn meaning(status: &str) -> &'static str {
    match status {
        "400" => "`malformed_json` or `unreadable_body`: the body is not JSON",
        "401" => "`unauthenticated`: sign in first (or the session has ended)",
        "403" => {
            "`csrf_token_invalid`, `two_factor_required` (the account requires 2FA first), or the person may not do this"
        }
        "404" => "`not_found`: no such thing here (a malformed id names nothing)",
        "413" => "`body_too_large`: the body is over 64 KiB",
        "415" => "`json_required`: send the body as `application/json`",
        "422" => "`invalid_fields` or a field's own code: the body has the wrong shape or values",
        "429" => "`too_many_attempts`: wait the seconds `Retry-After` names",
        "503" => "`database_unavailable`: the database cannot be reached; try again shortly",
        _ => "an error",
    }
}

/// Adds the statuses an operation's kind implies where its handler did not list them.
pub fn complete(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, operation) in item.iter_mut().filter(|(m, _)| METHODS.contains(&m.as_str())) {
            let needs_session = !WITHOUT_SESSION.contains(&path.as_str());
            let mut statuses = vec!["503"];
            if operation.get("requestBody").is_some() {
                statuses.extend(["400", "413", "415", "422"]);
            }
            if needs_session {
                // 403 on reads too: an account policy that requires 2FA turns a person
                // without it away from everything but the wizard.
                statuses.extend(["401", "403"]);
            }
            if path.contains('{') {
                statuses.push("404");
            }
            if GUESSED.contains(&path.as_str()) && method != "get" {
                statuses.push("429");
            }
            add_responses(operation, &statuses);
            if needs_session && operation.get("security").is_none() {
                let security =
                    if method == "get" { json!([{ "session": [] }]) } else { json!([{ "session": [], "csrf": [] }]) };
                operation["security"] = security;
            }
        }
    }
}

fn add_responses(operation: &mut Value, statuses: &[&str]) {
    let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { return };
    for status in statuses {
        responses.entry((*status).to_owned()).or_insert_with(|| {
            json!({
                "description": meaning(status),
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorView" } } }
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec_45_json_operations_on_session_routes_gain_every_status_they_can_answer() {
        let mut doc = json!({ "paths": {
            "/api/v1/users/{id}/role": { "put": { "requestBody": {}, "responses": { "200": {} } } },
            "/api/v1/login": { "post": { "requestBody": {}, "responses": { "200": {}, "401": { "description": "own" } } } },
            "/api/v1/me": { "get": { "responses": { "200": {} } }, "parameters": [] },
        }});
        complete(&mut doc);
        let role = &doc["paths"]["/api/v1/users/{id}/role"]["put"];
        for s in ["200", "400", "401", "403", "404", "413", "415", "422", "503"] {
            assert!(role["responses"].get(s).is_some(), "{s}");
        }
        assert_eq!(role["security"], json!([{ "session": [], "csrf": [] }]));
        let login = &doc["paths"]["/api/v1/login"]["post"];
        assert_eq!(login["responses"]["401"]["description"], "own", "a handler's own words are kept");
        assert!(login["responses"].get("403").is_none() && login.get("security").is_none());
        let me = &doc["paths"]["/api/v1/me"]["get"];
        assert!(me["responses"].get("401").is_some() && me["responses"].get("422").is_none());
        assert_eq!(me["security"], json!([{ "session": [] }]));
    }
}
