//! SCIM PATCH (RFC 7644 §3.5.2) applied to a resource as JSON; what Twofold keeps is then
//! read from the result exactly as from a PUT, so a PATCH can change nothing a PUT could
//! not. Accepts what real directories send besides the RFC: Microsoft Entra ID's
//! capitalised `"Replace"`, value objects without a path whose keys are paths
//! (`"name.givenName"`), `remove` of `members` with a value list, and `replace` of
//! `emails[type eq "work"].value` on a user who has no such email yet.

use serde_json::{Map, Value};

use super::filter::{self, Filter, Op};
use super::{MAX_OPERATIONS, PATCH_SCHEMA, ScimError, attribute, strip_schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Remove,
    Replace,
}

/// Where an operation acts.
#[derive(Debug, Clone, PartialEq)]
struct Path {
    /// An extension schema's URN holding the attribute, when it is not a core one.
    extension: Option<String>,
    attr: String,
    filter: Option<Filter>,
    sub: Option<String>,
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request("invalidPath", detail)
}

fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request("invalidValue", detail)
}

fn invalid_syntax(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request("invalidSyntax", detail)
}

fn parse_path(text: &str) -> Result<Path, ScimError> {
    let text = strip_schema(text.trim());
    let (extension, rest) = match text.get(..4).filter(|p| p.eq_ignore_ascii_case("urn:")) {
        Some(_) => {
            let (urn, attr) =
                text.rsplit_once(':').ok_or_else(|| invalid_path("An extension path names an attribute."))?;
            (Some(urn.to_owned()), attr)
        }
        None => (None, text),
    };
    let (head, filter, tail) = match rest.find('[') {
        Some(open) => {
            let close = rest.rfind(']').ok_or_else(|| invalid_path(format!("{text:?} has an unclosed bracket.")))?;
            let inner = rest.get(open + 1..close).ok_or_else(|| invalid_path("A bracket is misplaced."))?;
            let filter = filter::parse(inner).map_err(|e| invalid_path(e.detail))?;
            (&rest[..open], Some(filter), &rest[close + 1..])
        }
        None => (rest, None, ""),
    };
    let (attr, sub) = match (head.split_once('.'), tail.strip_prefix('.')) {
        (Some((attr, sub)), _) if filter.is_none() => (attr, Some(sub)),
        (None, Some(sub)) => (head, Some(sub)),
        (None, None) if tail.is_empty() => (head, None),
        _ => return Err(invalid_path(format!("{text:?} is not a path Twofold understands."))),
    };
    let name = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if !name(attr) || sub.is_some_and(|s| !name(s)) {
        return Err(invalid_path(format!("{text:?} is not an attribute path.")));
    }
    Ok(Path { extension, attr: attr.to_owned(), filter, sub: sub.map(str::to_owned) })
}

/// Applies a PatchOp request body to `resource`.
pub fn apply(resource: &mut Value, body: &Value) -> Result<(), ScimError> {
    let schemas = attribute(body, "schemas").and_then(Value::as_array);
    if !schemas.is_some_and(|s| s.iter().any(|v| v.as_str().is_some_and(|v| v.eq_ignore_ascii_case(PATCH_SCHEMA)))) {
        return Err(invalid_syntax(format!("A PATCH names the schema {PATCH_SCHEMA}.")));
    }
    let operations = attribute(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid_syntax("A PATCH carries \"Operations\"."))?;
    if operations.len() > MAX_OPERATIONS {
        return Err(invalid_syntax(format!("A PATCH carries at most {MAX_OPERATIONS} operations.")));
    }
    for operation in operations {
        apply_one(resource, operation)?;
    }
    Ok(())
}

fn apply_one(resource: &mut Value, operation: &Value) -> Result<(), ScimError> {
    let kind = match attribute(operation, "op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
        Some("add") => Kind::Add,
        Some("remove") => Kind::Remove,
        Some("replace") => Kind::Replace,
        _ => return Err(invalid_syntax("Each operation's \"op\" is add, remove or replace.")),
    };
    let value = attribute(operation, "value");
    let path = attribute(operation, "path").and_then(Value::as_str).filter(|p| !p.trim().is_empty());
    match (path, kind) {
        (Some(path), _) => at_path(resource, &parse_path(path)?, kind, value),
        (None, Kind::Remove) => Err(ScimError::bad_request("noTarget", "A remove names its path.")),
        (None, _) => {
            let Some(Value::Object(values)) = value else {
                return Err(invalid_value("An operation without a path carries an object of attributes."));
            };
            for (key, value) in values {
                if key.eq_ignore_ascii_case("schemas")
                    || key.eq_ignore_ascii_case("id")
                    || key.eq_ignore_ascii_case("meta")
                {
                    continue;
                }
                at_path(resource, &parse_path(key)?, kind, Some(value))?;
            }
            Ok(())
        }
    }
}

/// The object an attribute lives in: the resource, or its extension's object.
fn container<'a>(resource: &'a mut Value, path: &Path, create: bool) -> Option<&'a mut Map<String, Value>> {
    let object = resource.as_object_mut()?;
    let Some(urn) = &path.extension else { return Some(object) };
    let key = key_of(object, urn).unwrap_or_else(|| urn.clone());
    if !object.contains_key(&key) {
        if !create {
            return None;
        }
        object.insert(key.clone(), Value::Object(Map::new()));
    }
    object.get_mut(&key)?.as_object_mut()
}

/// The key an object really uses for `name`, compared case-insensitively.
fn key_of(object: &Map<String, Value>, name: &str) -> Option<String> {
    object.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn at_path(resource: &mut Value, path: &Path, kind: Kind, value: Option<&Value>) -> Result<(), ScimError> {
    if kind != Kind::Remove && value.is_none() {
        return Err(invalid_value("An add or replace carries a \"value\"."));
    }
    let Some(object) = container(resource, path, kind != Kind::Remove) else { return Ok(()) };
    let key = key_of(object, &path.attr).unwrap_or_else(|| path.attr.clone());
    match (&path.filter, &path.sub) {
        (None, None) => whole(object, key, kind, value),
        (None, Some(sub)) => {
            let target = object.entry(key).or_insert_with(|| Value::Object(Map::new()));
            match target {
                Value::Array(items) => items.iter_mut().try_for_each(|item| set_sub(item, sub, kind, value)),
                item => set_sub(item, sub, kind, value),
            }
        }
        (Some(filter), sub) => filtered(object, key, filter, sub.as_deref(), kind, value),
    }
}

/// An operation on a whole attribute.
fn whole(object: &mut Map<String, Value>, key: String, kind: Kind, value: Option<&Value>) -> Result<(), ScimError> {
    match (kind, object.get_mut(&key), value) {
        (Kind::Remove, Some(Value::Array(items)), Some(Value::Array(gone))) => {
            // Entra ID removes members as `{"path": "members", "value": [{"value": id}]}`.
            items.retain(|item| !gone.iter().any(|g| same_element(item, g)));
            Ok(())
        }
        (Kind::Remove, ..) => {
            object.remove(&key);
            Ok(())
        }
        (Kind::Add, Some(Value::Array(items)), Some(new)) => {
            let new = match new {
                Value::Array(new) => new.clone(),
                one => vec![one.clone()],
            };
            for item in new {
                if !items.iter().any(|i| same_element(i, &item)) {
                    items.push(item);
                }
            }
            Ok(())
        }
        (Kind::Add, Some(Value::Object(existing)), Some(Value::Object(new))) => {
            for (k, v) in new {
                let k = key_of(existing, k).unwrap_or_else(|| k.clone());
                existing.insert(k, v.clone());
            }
            Ok(())
        }
        (_, _, Some(value)) => {
            object.insert(key, value.clone());
            Ok(())
        }
        (_, _, None) => Err(invalid_value("An add or replace carries a \"value\".")),
    }
}

/// Two elements of a multi-valued attribute are the same when their `value`s are (or,
/// without one, when they are equal).
fn same_element(a: &Value, b: &Value) -> bool {
    match (attribute(a, "value"), attribute(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn set_sub(item: &mut Value, sub: &str, kind: Kind, value: Option<&Value>) -> Result<(), ScimError> {
    let Some(object) = item.as_object_mut() else {
        return Err(invalid_path(format!("{sub:?} is a sub-attribute of a simple attribute.")));
    };
    let key = key_of(object, sub).unwrap_or_else(|| sub.to_owned());
    match (kind, value) {
        (Kind::Remove, _) => {
            object.remove(&key);
        }
        (_, Some(value)) => {
            object.insert(key, value.clone());
        }
        (_, None) => return Err(invalid_value("An add or replace carries a \"value\".")),
    }
    Ok(())
}

fn filtered(
    object: &mut Map<String, Value>,
    key: String,
    filter: &Filter,
    sub: Option<&str>,
    kind: Kind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let items = match object.entry(key).or_insert_with(|| Value::Array(vec![])) {
        Value::Array(items) => items,
        _ => return Err(invalid_path("A filter in a path selects from a multi-valued attribute.")),
    };
    let matching = items.iter().filter(|item| filter.matches(item)).count();
    match (kind, sub) {
        (Kind::Remove, None) => items.retain(|item| !filter.matches(item)),
        (Kind::Remove, Some(sub)) => {
            items.iter_mut().filter(|item| filter.matches(item)).try_for_each(|item| set_sub(item, sub, kind, value))?
        }
        (_, Some(sub)) if matching == 0 => {
            // `emails[type eq "work"].value` on a user without a work email: make one.
            let mut item = element_from(filter).ok_or_else(|| {
                ScimError::bad_request("noTarget", "The path's filter matches nothing and describes no new element.")
            })?;
            set_sub(&mut item, sub, kind, value)?;
            items.push(item);
        }
        (_, Some(sub)) => {
            items.iter_mut().filter(|item| filter.matches(item)).try_for_each(|item| set_sub(item, sub, kind, value))?
        }
        (_, None) if matching == 0 => {
            return Err(ScimError::bad_request("noTarget", "The path's filter matches nothing."));
        }
        (_, None) => {
            let Some(Value::Object(new)) = value else {
                return Err(invalid_value("Replacing filtered elements takes an object."));
            };
            for item in items.iter_mut().filter(|item| filter.matches(item)) {
                if let Value::Object(existing) = item {
                    for (k, v) in new {
                        let k = key_of(existing, k).unwrap_or_else(|| k.clone());
                        existing.insert(k, v.clone());
                    }
                }
            }
        }
    }
    Ok(())
}

/// The element a filter of `eq` terms joined by `and` describes.
fn element_from(filter: &Filter) -> Option<Value> {
    match filter {
        Filter::Compare { path, op: Op::Eq, value } => {
            let [attr] = path.as_slice() else { return None };
            let mut object = Map::new();
            object.insert(attr.clone(), value.clone());
            Some(Value::Object(object))
        }
        Filter::And(a, b) => {
            let (Value::Object(mut a), Value::Object(b)) = (element_from(a)?, element_from(b)?) else { return None };
            a.extend(b);
            Some(Value::Object(a))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(mut resource: Value, operations: Value) -> Result<Value, ScimError> {
        apply(&mut resource, &json!({ "schemas": [PATCH_SCHEMA], "Operations": operations }))?;
        Ok(resource)
    }

    fn pat() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "pat@acme.test",
            "active": true,
            "name": { "givenName": "Pat", "familyName": "Doe" },
            "emails": [{ "value": "pat@acme.test", "type": "work", "primary": true }],
        })
    }

    #[test]
    fn what_entra_id_sends() {
        // https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
        let r = patched(pat(), json!([{ "op": "Replace", "path": "active", "value": "False" }])).unwrap();
        assert_eq!(r["active"], "False", "kept as sent; reading the resource turns it into false");
        let r = patched(
            pat(),
            json!([
                { "op": "Add", "path": "externalId", "value": "0a21f0f2" },
                { "op": "Replace", "path": "name.familyName", "value": "Smith" },
                { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "pat.smith@acme.test" },
                { "op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Eng" },
            ]),
        )
        .unwrap();
        assert_eq!(r["externalId"], "0a21f0f2");
        assert_eq!(r["name"], json!({ "givenName": "Pat", "familyName": "Smith" }));
        assert_eq!(r["emails"][0]["value"], "pat.smith@acme.test");
        assert_eq!(r["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"], "Eng");

        let group = json!({ "displayName": "eng", "members": [{ "value": "1" }, { "value": "2" }] });
        let r = patched(
            group.clone(),
            json!([{ "op": "Add", "path": "members", "value": [{ "value": "3" }, { "value": "1" }] }]),
        )
        .unwrap();
        assert_eq!(r["members"], json!([{ "value": "1" }, { "value": "2" }, { "value": "3" }]), "no duplicate");
        let r = patched(group, json!([{ "op": "Remove", "path": "members", "value": [{ "value": "1" }] }])).unwrap();
        assert_eq!(r["members"], json!([{ "value": "2" }]));
    }

    #[test]
    fn what_okta_sends() {
        // https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20
        let r = patched(pat(), json!([{ "op": "replace", "value": { "active": false } }])).unwrap();
        assert_eq!(r["active"], false);
        let r = patched(
            pat(),
            json!([{ "op": "replace", "value": { "name.givenName": "Patricia", "userName": "p@acme.test" } }]),
        )
        .unwrap();
        assert_eq!((r["name"]["givenName"].as_str(), r["userName"].as_str()), (Some("Patricia"), Some("p@acme.test")));
        let group = json!({ "displayName": "eng", "members": [{ "value": "1" }, { "value": "2" }] });
        let r = patched(group.clone(), json!([{ "op": "remove", "path": "members[value eq \"2\"]" }])).unwrap();
        assert_eq!(r["members"], json!([{ "value": "1" }]));
        let r = patched(group, json!([{ "op": "replace", "path": "members", "value": [{ "value": "9" }] }])).unwrap();
        assert_eq!(r["members"], json!([{ "value": "9" }]));
    }

    #[test]
    fn the_rfc_forms() {
        let r = patched(
            pat(),
            json!([{ "op": "add", "value": { "emails": [{ "value": "home@pat.test", "type": "home" }] } }]),
        )
        .unwrap();
        assert_eq!(r["emails"].as_array().unwrap().len(), 2, "add appends to a multi-valued attribute");
        let r = patched(pat(), json!([{ "op": "remove", "path": "name.givenName" }])).unwrap();
        assert_eq!(r["name"], json!({ "familyName": "Doe" }));
        let r = patched(pat(), json!([{ "op": "remove", "path": "emails[type eq \"work\"]" }])).unwrap();
        assert_eq!(r["emails"], json!([]));
        let r = patched(pat(), json!([{ "op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:userName", "value": "x@acme.test" }]))
            .unwrap();
        assert_eq!(r["userName"], "x@acme.test");
    }

    #[test]
    fn bad_operations_answer_scim_errors() {
        let cases = [
            (json!([{ "op": "remove" }]), "noTarget"),
            (json!([{ "op": "move", "path": "active", "value": true }]), "invalidSyntax"),
            (json!([{ "op": "replace", "path": "active" }]), "invalidValue"),
            (json!([{ "op": "replace", "value": "x" }]), "invalidValue"),
            (json!([{ "op": "replace", "path": "a.b.c", "value": 1 }]), "invalidPath"),
            (json!([{ "op": "replace", "path": "emails[type eq", "value": 1 }]), "invalidPath"),
            (json!([{ "op": "replace", "path": "emails[type eq \"home\"]", "value": { "value": "x" } }]), "noTarget"),
        ];
        for (operations, scim_type) in cases {
            let e = patched(pat(), operations.clone()).expect_err(&operations.to_string());
            assert_eq!(e.scim_type, Some(scim_type), "{operations}");
        }
        let mut r = pat();
        let e = apply(&mut r, &json!({ "Operations": [] })).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidSyntax"), "the schema is required");
        let many: Vec<Value> =
            (0..=MAX_OPERATIONS).map(|_| json!({ "op": "replace", "path": "active", "value": true })).collect();
        assert!(patched(pat(), Value::Array(many)).is_err());
    }
}
