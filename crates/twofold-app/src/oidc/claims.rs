//! What an application is told about a person: the ID token's claims and userinfo's.

use serde_json::{Map, Value, json};
use twofold_domain::oidc::{ID_TOKEN_SECONDS, SignInMethod, has_scope};
use twofold_domain::person::Person;
use twofold_store::oidc::grants::GrantRow;
use twofold_store::{Conn, users};

use crate::{App, Result};

/// The person behind a grant, with their account's name.
pub(crate) struct Subject {
    pub person: Person,
    pub account_name: String,
    pub email_verified: bool,
    /// The names of their groups (claim `groups`, scope `groups`).
    pub groups: Vec<String>,
}

impl App {
    /// The grant's person, if they still exist.
    pub(crate) async fn subject_of(&self, conn: &mut Conn, grant: &GrantRow) -> Result<Option<Subject>> {
        let Some(row) = users::by_id(conn, grant.user_id).await? else { return Ok(None) };
        let person = row.into_person();
        let account_name = self.account_name_in(conn, person.account_id).await?;
        let email_verified = users::email_verified(conn, person.id).await?;
        let groups = self.group_names(conn, person.id).await?;
        Ok(Some(Subject { person, account_name, email_verified, groups }))
    }

    /// The issuer identifier: the public URL, as discovery names it.
    pub fn issuer(&self) -> &str {
        self.config().public_url.trim_end_matches('/')
    }
}

/// The claims both the ID token and userinfo carry, by scope.
pub(crate) fn person_claims(subject: &Subject, grant: &GrantRow) -> Map<String, Value> {
    let person = &subject.person;
    let method = SignInMethod::parse(Some(&grant.method));
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(person.id.to_string()));
    if has_scope(&grant.scope, "email") {
        claims.insert("email".into(), json!(person.email));
        // Only a link that the mailbox alone received proves the address: the mailed
        // invitation link or a reset link, not the invitation link shown to the inviter.
        claims.insert("email_verified".into(), json!(subject.email_verified));
    }
    if has_scope(&grant.scope, "profile") {
        claims.insert("name".into(), json!(person.name));
        // Twofold has no usernames apart from the address, unique per instance: what
        // applications that key on `preferred_username` (JupyterHub, synapse) need. `sub`
        // stays the key that never changes.
        claims.insert("preferred_username".into(), json!(person.email));
    }
    if has_scope(&grant.scope, "groups") {
        claims.insert("groups".into(), json!(subject.groups));
    }
    claims.insert("account".into(), json!({ "id": person.account_id.to_string(), "name": subject.account_name }));
    claims.insert("role".into(), json!(person.role.as_str()));
    claims.insert("amr".into(), json!(method.amr()));
    claims.insert("acr".into(), json!(method.acr()));
    claims.insert("auth_time".into(), json!(grant.auth_time));
    claims
}

/// The ID token's claims (OpenID Connect Core §2), SEC-41: `iss`, `aud`, `exp`, `iat`, and
/// the `nonce` of the authorization request.
pub(crate) fn id_token_claims(issuer: &str, subject: &Subject, grant: &GrantRow, now: i64) -> Value {
    let mut claims = person_claims(subject, grant);
    claims.insert("iss".into(), json!(issuer));
    claims.insert("aud".into(), json!(grant.client_id));
    claims.insert("azp".into(), json!(grant.client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + ID_TOKEN_SECONDS));
    // The session, opaque: a hash of its hash, so that the stored key is not given out.
    claims.insert("sid".into(), json!(session_id(&grant.session_hash)));
    if let Some(nonce) = &grant.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    Value::Object(claims)
}

/// The `sid` claim of a session.
pub(crate) fn session_id(session_hash: &str) -> String {
    twofold_domain::token::hash(&format!("oidc-sid:{session_hash}")).chars().take(32).collect()
}
