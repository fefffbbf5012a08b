//! What a directory reads first: ServiceProviderConfig, ResourceTypes and Schemas (RFC
//! 7644 §4). Public to any holder of a `scim` token, like the rest of `/scim/v2`.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use twofold_app::domain::scim::{GROUP_SCHEMA, ScimError, USER_SCHEMA};

use super::{Directory, Scim, ScimFailure, ScimResult, base_url};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/scim/v2/ServiceProviderConfig", get(service_provider_config))
        .route("/scim/v2/ResourceTypes", get(resource_types))
        .route("/scim/v2/ResourceTypes/{name}", get(resource_type))
        .route("/scim/v2/Schemas", get(schemas))
        .route("/scim/v2/Schemas/{id}", get(schema))
        .route("/scim/v2/.search", axum::routing::post(search_everything))
        .route("/scim/v2/{*rest}", axum::routing::any(unknown))
}

/// Searching Users and Groups at once (RFC 7644 §3.4.3's root `/.search`): not offered;
/// `/Users/.search` and `/Groups/.search` are.
async fn search_everything(_: Directory) -> ScimFailure {
    ScimFailure(ScimError::new(501, None, "Search /Users/.search or /Groups/.search."))
}

/// Any other path under the base: a SCIM 404, not the pages' one.
async fn unknown() -> ScimFailure {
    ScimFailure(ScimError::new(404, None, "No such endpoint: see /ServiceProviderConfig and /ResourceTypes."))
}

const LIST: &str = twofold_app::domain::scim::LIST_SCHEMA;

fn list(resources: Vec<Value>) -> Scim {
    let n = resources.len();
    Scim(
        StatusCode::OK,
        json!({ "schemas": [LIST], "totalResults": n, "startIndex": 1, "itemsPerPage": n, "Resources": resources }),
    )
}

fn not_found(what: &str) -> ScimFailure {
    ScimFailure(ScimError::new(404, None, format!("No {what} of that name.")))
}

async fn service_provider_config(State(state): State<AppState>, _: Directory) -> Scim {
    let base = base_url(&state);
    Scim(
        StatusCode::OK,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": twofold_app::domain::scim::MAX_RESULTS },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": false },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "API token",
                "description": "An account API token with the scim scope (Apps tab), as Authorization: Bearer tf_….",
                "primary": true,
            }],
            "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") },
        }),
    )
}

fn all_resource_types(base: &str) -> Vec<Value> {
    [("User", "/Users", USER_SCHEMA, "People of the account"), ("Group", "/Groups", GROUP_SCHEMA, "Groups of people")]
        .into_iter()
        .map(|(name, endpoint, schema, description)| {
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": name,
                "name": name,
                "endpoint": endpoint,
                "description": description,
                "schema": schema,
                "schemaExtensions": [],
                "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{name}") },
            })
        })
        .collect()
}

async fn resource_types(State(state): State<AppState>, _: Directory) -> Scim {
    list(all_resource_types(&base_url(&state)))
}

async fn resource_type(State(state): State<AppState>, _: Directory, Path(name): Path<String>) -> ScimResult {
    let found = all_resource_types(&base_url(&state)).into_iter().find(|t| t["id"] == name.as_str());
    found.map(|t| Scim(StatusCode::OK, t)).ok_or_else(|| not_found("resource type"))
}

/// The two schemas, as written in `schemas.json`, with their locations added.
fn all_schemas(base: &str) -> Vec<Value> {
    static SCHEMAS: OnceLock<Vec<Value>> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| serde_json::from_str(include_str!("schemas.json")).unwrap_or_default());
    schemas
        .iter()
        .cloned()
        .map(|mut s| {
            let location = format!("{base}/Schemas/{}", s.get("id").and_then(Value::as_str).unwrap_or_default());
            if let Some(object) = s.as_object_mut() {
                object.insert("meta".into(), json!({ "resourceType": "Schema", "location": location }));
            }
            s
        })
        .collect()
}

async fn schemas(State(state): State<AppState>, _: Directory) -> Scim {
    list(all_schemas(&base_url(&state)))
}

async fn schema(State(state): State<AppState>, _: Directory, Path(id): Path<String>) -> ScimResult {
    let found = all_schemas(&base_url(&state)).into_iter().find(|s| s["id"] == id.as_str());
    found.map(|s| Scim(StatusCode::OK, s)).ok_or_else(|| not_found("schema"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schemas_parse_and_name_both_resources() {
        let schemas = super::all_schemas("https://tf.test/scim/v2");
        let ids: Vec<&str> = schemas.iter().filter_map(|s| s["id"].as_str()).collect();
        assert_eq!(ids, [super::USER_SCHEMA, super::GROUP_SCHEMA]);
    }
}
