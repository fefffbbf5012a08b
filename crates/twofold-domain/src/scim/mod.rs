//! SCIM 2.0 (RFC 7643, RFC 7644) as a directory speaks it to Twofold: filters, PATCH
//! operations, and what of a User or Group resource Twofold keeps. Resources are handled
//! as JSON so that the quirks of real directories (Microsoft Entra ID's `"Replace"` and
//! `"False"`, Okta's value objects without a path) are accepted in one place.

pub mod filter;
pub mod patch;
pub mod resource;

use serde_json::Value;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Most resources a page holds (`count` is capped to it), as ServiceProviderConfig says.
pub const MAX_RESULTS: usize = 1_000;
/// Most operations one PATCH may carry.
pub const MAX_OPERATIONS: usize = 1_000;

/// An error as RFC 7644 §3.12 sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn bad_request(scim_type: &'static str, detail: impl Into<String>) -> Self {
        ScimError { status: 400, scim_type: Some(scim_type), detail: detail.into() }
    }

    pub fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError { status, scim_type, detail: detail.into() }
    }

    /// The body of the answer.
    pub fn to_json(&self) -> Value {
        let mut body = serde_json::Map::new();
        body.insert("schemas".into(), serde_json::json!([ERROR_SCHEMA]));
        body.insert("status".into(), Value::from(self.status.to_string()));
        if let Some(scim_type) = self.scim_type {
            body.insert("scimType".into(), Value::from(scim_type));
        }
        body.insert("detail".into(), Value::from(self.detail.as_str()));
        Value::Object(body)
    }
}

/// `urn:ietf:params:scim:schemas:core:2.0:User:userName` → `userName`: the core schemas'
/// prefix is optional in paths and filters. An extension's attributes keep theirs.
pub fn strip_schema(path: &str) -> &str {
    for schema in [USER_SCHEMA, GROUP_SCHEMA] {
        let (Some(head), Some(rest)) = (path.get(..schema.len()), path.get(schema.len()..)) else { continue };
        if let Some(rest) = rest.strip_prefix(':').filter(|_| head.eq_ignore_ascii_case(schema)) {
            return rest;
        }
    }
    path
}

/// An attribute of a JSON object, its name compared case-insensitively.
pub fn attribute<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// A page of a list: `startIndex` is 1-based and values below 1 mean 1; `count` is capped
/// at [`MAX_RESULTS`] and 0 asks only for the total (RFC 7644 §3.4.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub start_index: usize,
    pub count: usize,
}

impl Page {
    pub fn of(start_index: Option<i64>, count: Option<i64>) -> Page {
        let start_index = start_index.unwrap_or(1).clamp(1, i64::from(u32::MAX)) as usize;
        let count = count.unwrap_or(100).clamp(0, MAX_RESULTS as i64) as usize;
        Page { start_index, count }
    }

    /// The zero-based offset of the first item.
    pub fn offset(self) -> usize {
        self.start_index - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn core_schema_prefixes_are_optional() {
        assert_eq!(strip_schema("urn:ietf:params:scim:schemas:core:2.0:User:userName"), "userName");
        assert_eq!(strip_schema("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:GROUP:displayName"), "displayName");
        assert_eq!(
            strip_schema(&format!("{ENTERPRISE_USER_SCHEMA}:department")),
            format!("{ENTERPRISE_USER_SCHEMA}:department")
        );
        assert_eq!(strip_schema("userName"), "userName");
        assert_eq!(strip_schema("u"), "u");
    }

    #[test]
    fn pages_are_one_based_and_capped() {
        assert_eq!(Page::of(None, None), Page { start_index: 1, count: 100 });
        assert_eq!(Page::of(Some(0), Some(-5)), Page { start_index: 1, count: 0 });
        assert_eq!(Page::of(Some(11), Some(5000)), Page { start_index: 11, count: MAX_RESULTS });
        assert_eq!(Page::of(Some(11), None).offset(), 10);
    }

    #[test]
    fn errors_carry_their_scim_type_and_a_string_status() {
        let e = ScimError::bad_request("invalidFilter", "nope").to_json();
        assert_eq!(
            e,
            json!({ "schemas": [ERROR_SCHEMA], "status": "400", "scimType": "invalidFilter", "detail": "nope" })
        );
        assert!(ScimError::new(404, None, "gone").to_json().get("scimType").is_none());
    }
}
