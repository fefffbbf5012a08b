//! What Twofold keeps of a SCIM User or Group, read from the JSON a directory sends (POST,
//! PUT, or a resource after PATCH), and the resource it answers.

use serde_json::{Map, Value, json};

use super::{GROUP_SCHEMA, ScimError, USER_SCHEMA, attribute};
use crate::clock::rfc3339;
use crate::email::Email;
use crate::{group, person_name};

/// Longest `userName` and `externalId`.
pub const MAX_ID_CHARS: usize = 255;

/// A User as Twofold keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFields {
    /// As the directory knows the person (often the email, sometimes another login name).
    pub user_name: String,
    /// Where Twofold mails them: `userName` when it is an address, else the primary email.
    pub email: String,
    /// How Twofold names them: `displayName`, `name.formatted`, or given and family names.
    pub name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub active: bool,
    pub external_id: Option<String>,
}

/// A Group as Twofold keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFields {
    pub display_name: String,
    pub external_id: Option<String>,
    /// The members' ids as sent (`members[].value`); none when `members` is left out.
    pub members: Vec<String>,
}

fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request("invalidValue", detail)
}

fn text<'a>(resource: &'a Value, name: &str) -> Option<&'a str> {
    attribute(resource, name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// An identifier a directory chose: at most 255 characters, no control characters.
fn identifier(value: Option<&str>, what: &str) -> Result<Option<String>, ScimError> {
    match value {
        Some(v) if v.chars().count() > MAX_ID_CHARS || v.chars().any(char::is_control) => {
            Err(invalid_value(format!("{what} has at most {MAX_ID_CHARS} characters and no control characters.")))
        }
        v => Ok(v.map(str::to_owned)),
    }
}

/// A boolean as directories send it: `true`, or Entra ID's `"True"`/`"False"` strings.
fn boolean(value: Option<&Value>, default: bool) -> Result<bool, ScimError> {
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(invalid_value(format!("{other} is not a boolean."))),
    }
}

/// The primary email's value, or the first one's.
fn primary_email(resource: &Value) -> Option<&str> {
    let emails = attribute(resource, "emails")?.as_array()?;
    let primary = emails.iter().find(|e| boolean(attribute(e, "primary"), false).unwrap_or(false));
    primary.or(emails.first()).and_then(|e| text(e, "value"))
}

/// Reads a User resource; `active` left out is `active_by_default` (true for a new person,
/// the person's state for a PUT or PATCH: leaving it out never reactivates anyone).
pub fn user_fields(resource: &Value, active_by_default: bool) -> Result<UserFields, ScimError> {
    let user_name =
        identifier(text(resource, "userName"), "userName")?.ok_or_else(|| invalid_value("A user needs a userName."))?;
    let email = Email::parse(&user_name)
        .or_else(|_| Email::parse(primary_email(resource).unwrap_or_default()))
        .map_err(|_| invalid_value("A user needs an email address: as userName, or in emails."))?
        .into_string();
    let name_object = attribute(resource, "name");
    let part = |key: &str| name_object.and_then(|n| text(n, key)).map(str::to_owned);
    let (given_name, family_name) = (part("givenName"), part("familyName"));
    let joined = [given_name.as_deref(), family_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let typed = text(resource, "displayName")
        .map(str::to_owned)
        .or_else(|| part("formatted"))
        .or_else(|| (!joined.is_empty()).then_some(joined))
        // A name may not look like an address (SEC-54): the mailbox's part before the @.
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    let name = person_name::parse(&typed).map_err(|e| invalid_value(format!("The name: {e}")))?;
    for part in [&given_name, &family_name].into_iter().flatten() {
        person_name::parse(part).map_err(|e| invalid_value(format!("A part of the name: {e}")))?;
    }
    Ok(UserFields {
        user_name,
        email,
        name,
        given_name,
        family_name,
        active: boolean(attribute(resource, "active"), active_by_default)?,
        external_id: identifier(text(resource, "externalId"), "externalId")?,
    })
}

/// Reads a Group resource.
pub fn group_fields(resource: &Value) -> Result<GroupFields, ScimError> {
    let typed = text(resource, "displayName").ok_or_else(|| invalid_value("A group needs a displayName."))?;
    let display_name = group::parse_name(typed).map_err(invalid_value)?;
    let members = match attribute(resource, "members") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .map(|m| text(m, "value").map(str::to_owned).ok_or_else(|| invalid_value("Each member has a value.")))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(invalid_value("members is a list.")),
    };
    Ok(GroupFields { display_name, external_id: identifier(text(resource, "externalId"), "externalId")?, members })
}

/// Drops a `displayName` that only repeats the given and family names, so that a PATCH of
/// those names renames the person unless it also sets `displayName`.
pub fn forget_derived_name(resource: &mut Value) {
    let name = attribute(resource, "name");
    let part = |key: &str| name.and_then(|n| text(n, key));
    let joined = [part("givenName"), part("familyName")].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let derived = !joined.is_empty() && text(resource, "displayName") == Some(joined.as_str());
    if let Some(object) = resource.as_object_mut().filter(|_| derived) {
        object.retain(|k, _| !k.eq_ignore_ascii_case("displayName"));
    }
}

/// A person as a User resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView<'a> {
    pub id: i64,
    pub fields: &'a UserFields,
    pub created_at: i64,
    pub modified_at: i64,
    /// (id, name) of the groups they are in.
    pub groups: &'a [(i64, String)],
}

/// `base` is the SCIM base URL (`…/scim/v2`).
pub fn user_json(user: &UserView<'_>, base: &str) -> Value {
    let f = user.fields;
    let mut name = Map::new();
    if let Some(given) = &f.given_name {
        name.insert("givenName".into(), Value::from(given.as_str()));
    }
    if let Some(family) = &f.family_name {
        name.insert("familyName".into(), Value::from(family.as_str()));
    }
    let groups: Vec<Value> = user
        .groups
        .iter()
        .map(|(id, name)| json!({ "value": id.to_string(), "display": name, "$ref": format!("{base}/Groups/{id}") }))
        .collect();
    let mut resource = Map::new();
    resource.insert("schemas".into(), json!([USER_SCHEMA]));
    resource.insert("id".into(), Value::from(user.id.to_string()));
    resource.insert("userName".into(), Value::from(f.user_name.as_str()));
    resource.insert("displayName".into(), Value::from(f.name.as_str()));
    resource.insert("emails".into(), json!([{ "value": f.email, "type": "work" }]));
    resource.insert("active".into(), Value::from(f.active));
    resource.insert("groups".into(), Value::Array(groups));
    let location = format!("{base}/Users/{}", user.id);
    resource.insert("meta".into(), meta("User", user.id, user.created_at, user.modified_at, &location));
    if let Some(external_id) = &f.external_id {
        resource.insert("externalId".into(), Value::from(external_id.as_str()));
    }
    if !name.is_empty() {
        resource.insert("name".into(), Value::Object(name));
    }
    Value::Object(resource)
}

/// A group as a Group resource; `members` are its people's ids.
pub fn group_json(
    id: i64,
    fields: &GroupFields,
    members: &[i64],
    created_at: i64,
    modified_at: i64,
    base: &str,
) -> Value {
    let members: Vec<Value> = members
        .iter()
        .map(|id| json!({ "value": id.to_string(), "type": "User", "$ref": format!("{base}/Users/{id}") }))
        .collect();
    let mut resource = Map::new();
    resource.insert("schemas".into(), json!([GROUP_SCHEMA]));
    resource.insert("id".into(), Value::from(id.to_string()));
    resource.insert("displayName".into(), Value::from(fields.display_name.as_str()));
    resource.insert("members".into(), Value::Array(members));
    resource.insert("meta".into(), meta("Group", id, created_at, modified_at, &format!("{base}/Groups/{id}")));
    if let Some(external_id) = &fields.external_id {
        resource.insert("externalId".into(), Value::from(external_id.as_str()));
    }
    Value::Object(resource)
}

fn meta(resource_type: &str, id: i64, created_at: i64, modified_at: i64, location: &str) -> Value {
    json!({
        "resourceType": resource_type,
        "created": rfc3339(created_at),
        "lastModified": rfc3339(modified_at),
        "location": location,
        "version": format!("W/\"{id}-{modified_at}\""),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_from_what_entra_id_posts() {
        let posted = json!({
            "schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.test",
            "active": "True",
            "emails": [{ "primary": true, "type": "work", "value": "Test_User_fd0ea19b@contoso.test" }],
            "name": { "formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName" },
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "department": "Eng" },
        });
        let f = user_fields(&posted, true).unwrap();
        assert_eq!(f.email, "test_user_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.test", "userName is the email");
        assert_eq!(f.name, "givenName familyName");
        assert_eq!((f.given_name.as_deref(), f.family_name.as_deref()), (Some("givenName"), Some("familyName")));
        assert!(f.active);
        assert_eq!(f.external_id.as_deref(), Some("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"));
    }

    #[test]
    fn a_login_name_as_user_name_takes_the_email_from_emails() {
        let f = user_fields(
            &json!({
                "userName": "bjensen",
                "displayName": "Babs Jensen",
                "emails": [{ "value": "home@b.test" }, { "value": "Babs@Example.test", "primary": "True" }],
                "active": "False",
            }),
            true,
        )
        .unwrap();
        assert_eq!(
            (f.user_name.as_str(), f.email.as_str(), f.name.as_str()),
            ("bjensen", "babs@example.test", "Babs Jensen")
        );
        assert!(!f.active);
        let no_address = user_fields(&json!({ "userName": "bjensen" }), true).unwrap_err();
        assert_eq!(no_address.scim_type, Some("invalidValue"));
    }

    #[test]
    fn a_name_made_of_its_parts_follows_them() {
        let mut r = json!({ "userName": "p@a.test", "displayName": "Pat Doe", "name": { "givenName": "Pat", "familyName": "Doe" } });
        forget_derived_name(&mut r);
        assert!(r.get("displayName").is_none());
        let mut chosen = json!({ "userName": "p@a.test", "displayName": "Dr. P", "name": { "givenName": "Pat" } });
        forget_derived_name(&mut chosen);
        assert_eq!(chosen["displayName"], "Dr. P", "a name of its own stays");
    }

    #[test]
    fn bad_users_are_invalid_values() {
        for bad in [
            json!({}),
            json!({ "userName": "" }),
            json!({ "userName": "a@b.test", "active": 3 }),
            json!({ "userName": "a@b.test", "displayName": "see https://evil.test" }),
            json!({ "userName": "a@b.test", "externalId": "x".repeat(256) }),
            json!({ "userName": format!("{}@b.test", "a".repeat(300)) }),
        ] {
            assert_eq!(user_fields(&bad, true).unwrap_err().scim_type, Some("invalidValue"), "{bad}");
        }
    }

    #[test]
    fn a_user_round_trips_through_its_resource() {
        let f = user_fields(&json!({ "userName": "pat@acme.test", "name": { "givenName": "Pat", "familyName": "Doe" }, "externalId": "e1" }), true).unwrap();
        let groups = [(3, "eng".to_owned())];
        let view = UserView { id: 7, fields: &f, created_at: 0, modified_at: 86_400, groups: &groups };
        let r = user_json(&view, "https://tf.test/scim/v2");
        assert_eq!(r["id"], "7");
        assert_eq!(r["displayName"], "Pat Doe");
        assert_eq!(
            r["groups"][0],
            json!({ "value": "3", "display": "eng", "$ref": "https://tf.test/scim/v2/Groups/3" })
        );
        assert_eq!(r["meta"]["created"], "1970-01-01T00:00:00Z");
        assert_eq!(r["meta"]["lastModified"], "1970-01-02T00:00:00Z");
        assert_eq!(user_fields(&r, true).unwrap(), f);
        let mut left_out = r.clone();
        left_out.as_object_mut().unwrap().remove("active");
        assert!(!user_fields(&left_out, false).unwrap().active, "leaving active out keeps a deactivated person so");
    }

    #[test]
    fn groups_carry_a_header_safe_name_and_their_members() {
        let g = group_fields(
            &json!({ "displayName": "eng", "members": [{ "value": "1" }, { "value": "2", "display": "x" }] }),
        )
        .unwrap();
        assert_eq!(g.members, ["1", "2"]);
        assert!(group_fields(&json!({ "displayName": "eng" })).unwrap().members.is_empty(), "left out: none");
        assert!(group_fields(&json!({ "displayName": "a,b" })).is_err());
        assert!(group_fields(&json!({ "displayName": "eng", "members": [{}] })).is_err());
        let r = group_json(4, &g, &[1], 0, 0, "https://tf.test/scim/v2");
        assert_eq!(r["members"][0]["$ref"], "https://tf.test/scim/v2/Users/1");
        assert_eq!(group_fields(&r).unwrap().members, ["1"]);
    }
}
