//! Security keys and passkeys (WebAuthn, SEC-36), through kanidm's `webauthn-rs`.
//!
//! Every ceremony has two calls: the first stores what the server must remember in the
//! database (so any instance can finish it), bound to the session that asked and valid five
//! minutes; the second takes it back exactly once. Registration asks for a discoverable
//! credential where the authenticator can make one (`residentKey: preferred`) and for user
//! verification where it can (`preferred`), so that keys without a PIN still serve as a
//! second factor while those with one also sign in without a password (a passkey).

use data_encoding::BASE64URL_NOPAD;
use serde_json::json;
use twofold_domain::person::Person;
use twofold_domain::token;
use twofold_store::security_keys::{self, Ceremony as StoredCeremony, NewCeremony, NewSecurityKey, SecurityKeyRow};
use twofold_store::{commit, factors, users};
use webauthn_rs::prelude::{
    Credential, DiscoverableAuthentication, PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey,
    SecurityKeyAuthentication, SecurityKeyRegistration, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use crate::attempt::{Guard, Rejection, Verdict};
use crate::audit::Parties;
use crate::proof::ProofFor;
use crate::sign_in::{CurrentSession, NewSessionToken, PendingSignIn, SecondStep};
use crate::{App, Error, RequestContext, Result};

/// How long a ceremony may take, from the first call to the second (SEC-36).
pub const CEREMONY_TTL: i64 = 5 * 60;
/// Longest name of a key.
pub const MAX_NAME_CHARS: usize = 64;
/// Most keys one person may register.
pub const MAX_KEYS: usize = 20;
/// Largest credential JSON looked at (a real one is under 2 KB).
pub const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;

/// The relying party of `public_url`: its host is the RP id and the URL the one origin.
/// `None` when the URL's host is an IP address, which WebAuthn does not allow.
pub(crate) fn relying_party(public_url: &str, name: &str) -> Option<Webauthn> {
    let origin = Url::parse(public_url).ok()?;
    let rp_id = origin.domain()?.to_owned();
    WebauthnBuilder::new(&rp_id, &origin).ok()?.rp_name(name).build().ok()
}

/// The user handle kept in discoverable credentials: the person's id in a fixed namespace.
fn user_handle(user_id: i64) -> Uuid {
    Uuid::from_u64_pair(0x7477_6f66_6f6c_6400, u64::from_ne_bytes(user_id.to_ne_bytes()))
}

/// The options to hand to `navigator.credentials.create()` or `.get()`, with the id that
/// finishes the ceremony.
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub challenge_id: String,
    /// The `publicKey` member of the options, binary fields in base64url.
    pub public_key: serde_json::Value,
}

/// A registered key as the profile lists it.
#[derive(Debug, Clone)]
pub struct SecurityKeyInfo {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// Discoverable and user-verifying: signs in without a password.
    pub passkey: bool,
}

impl From<&SecurityKeyRow> for SecurityKeyInfo {
    fn from(row: &SecurityKeyRow) -> Self {
        SecurityKeyInfo {
            id: row.id,
            name: row.name.clone(),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            passkey: row.passkey,
        }
    }
}

/// "Add a security key or passkey", second call: what the browser sends.
#[derive(Debug, Clone, Copy)]
pub struct KeyRegistration<'a> {
    pub challenge_id: &'a str,
    pub name: &'a str,
    /// The `PublicKeyCredential` from `create()`, in its `toJSON()` shape.
    pub credential: &'a serde_json::Value,
    /// The person's password, the fresh proof this change needs (SEC-46).
    pub password: &'a str,
}

/// A key just registered, with the recovery codes when it turned 2FA on.
#[derive(Debug, Clone)]
pub struct RegisteredKey {
    pub key: SecurityKeyInfo,
    pub recovery_codes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Register,
    SecondStep,
    Passkey,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::SecondStep => "second_step",
            Purpose::Passkey => "passkey",
        }
    }
}

/// The audit log's word for a refused WebAuthn answer.
fn reason_of(e: &WebauthnError) -> &'static str {
    match e {
        WebauthnError::CredentialPossibleCompromise => "counter_went_back",
        WebauthnError::InvalidRPOrigin | WebauthnError::CredentialCrossOrigin => "wrong_origin",
        WebauthnError::InvalidRPIDHash => "wrong_rp_id",
        WebauthnError::MismatchedChallenge => "wrong_challenge",
        WebauthnError::UserNotVerified => "user_not_verified",
        WebauthnError::UserNotPresent => "user_not_present",
        WebauthnError::AuthenticationFailure => "bad_signature",
        WebauthnError::CredentialNotFound => "unknown_credential",
        WebauthnError::ParseCBORFailure(_) | WebauthnError::ParseJSONFailure(_) | WebauthnError::ParseNOMFailure => {
            "malformed_credential"
        }
        _ => "rejected",
    }
}

fn unavailable() -> Error {
    Error::Refused {
        code: "webauthn_unavailable",
        message: "Security keys need Twofold's public URL to have a host name (not an IP address).".into(),
    }
}

fn internal(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("webauthn {what}: {e}"))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| internal("state", e))
}

fn credential_of(row: &SecurityKeyRow) -> Result<Credential> {
    serde_json::from_str(&row.credential).map_err(|e| internal("stored credential", e))
}

/// The `publicKey` member of a challenge response.
fn public_key_of<T: serde::Serialize>(response: &T) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(response).map_err(|e| internal("options", e))?;
    value.get_mut("publicKey").map(serde_json::Value::take).ok_or_else(|| internal("options", "no publicKey"))
}

/// A key's name as typed: trimmed, 1 to 64 characters, no control characters.
fn key_name(typed: &str) -> Result<String> {
    let name = typed.trim();
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "invalid_name",
            "Name the key in 1 to 64 characters, such as \"YubiKey on my keyring\".",
        ));
    }
    Ok(name.to_owned())
}

/// A browser's answer, parsed; too large or malformed is a rejection, not an error.
fn parse_answer<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<T, Rejection> {
    if value.to_string().len() > MAX_CREDENTIAL_BYTES {
        return Err(Rejection::because("malformed_credential"));
    }
    serde_json::from_value(value.clone()).map_err(|_| Rejection::because("malformed_credential"))
}

impl App {
    fn webauthn(&self) -> Result<&Webauthn> {
        self.relying_party().ok_or_else(unavailable)
    }

    /// Stores a ceremony's state and answers the id that finishes it, with the browser's
    /// half of `options`.
    async fn begin_ceremony<O: serde::Serialize, S: serde::Serialize>(
        &self,
        purpose: Purpose,
        binding: &str,
        user_id: Option<i64>,
        options: &O,
        state: &S,
    ) -> Result<Ceremony> {
        let public_key = public_key_of(options)?;
        let state = to_json(state)?;
        let id = token::generate(self.entropy());
        let now = self.now();
        let mut conn = self.store().conn().await?;
        let new = NewCeremony {
            id_hash: &id.hash,
            purpose: purpose.as_str(),
            session_hash: binding,
            user_id,
            state: &state,
            now,
            expires_at: now + CEREMONY_TTL,
        };
        security_keys::begin_ceremony(&mut conn, &new).await?;
        Ok(Ceremony { challenge_id: id.raw, public_key })
    }

    /// Takes a ceremony back, once: unknown, used, another session's, or expired is a
    /// rejection.
    async fn take_ceremony(
        &self,
        purpose: Purpose,
        binding: &str,
        challenge_id: &str,
    ) -> Result<Result<StoredCeremony, Rejection>> {
        if !token::is_well_formed(challenge_id) {
            return Ok(Err(Rejection::because("unknown_challenge")));
        }
        let mut conn = self.store().conn().await?;
        let taken =
            security_keys::take_ceremony(&mut conn, &token::hash(challenge_id), purpose.as_str(), binding).await?;
        Ok(match taken {
            None => Err(Rejection::because("unknown_or_used_challenge")),
            Some(c) if c.expires_at <= self.now() => Err(Rejection::because("challenge_expired")),
            Some(c) => Ok(c),
        })
    }

    /// "Add a security key or passkey", first call: the options for `create()`.
    pub async fn start_key_registration(&self, session: &CurrentSession) -> Result<Ceremony> {
        let webauthn = self.webauthn()?;
        let user = &session.user;
        let mut conn = self.store().conn().await?;
        let existing = security_keys::for_user(&mut conn, user.id).await?;
        drop(conn);
        if existing.len() >= MAX_KEYS {
            return Err(Error::conflict("too_many_keys", "You have 20 security keys; remove one to add another."));
        }
        let exclude = existing.iter().map(|row| credential_of(row).map(|c| c.cred_id)).collect::<Result<Vec<_>>>()?;
        let (options, state) = webauthn
            .start_securitykey_registration(user_handle(user.id), &user.email, &user.name, Some(exclude), None, None)
            .map_err(|e| internal("registration options", e))?;
        let binding = &session.session.id_hash;
        let mut ceremony = self.begin_ceremony(Purpose::Register, binding, Some(user.id), &options, &state).await?;
        let public_key = &mut ceremony.public_key;
        // A discoverable credential where the authenticator can: it is then also a passkey.
        if let Some(selection) = public_key.get_mut("authenticatorSelection").and_then(|s| s.as_object_mut()) {
            selection.insert("residentKey".into(), json!("preferred"));
            selection.insert("requireResidentKey".into(), json!(false));
        }
        // No credProtect: "user verification required" would make a key without a PIN
        // unusable as a second factor, and browsers refuse it beside `preferred` UV.
        if let Some(extensions) = public_key.get_mut("extensions").and_then(|e| e.as_object_mut()) {
            extensions.remove("credentialProtectionPolicy");
            extensions.remove("enforceCredentialProtectionPolicy");
        }
        Ok(ceremony)
    }

    /// Second call: the browser's new credential, checked and registered under `name`. The
    /// password comes with it (SEC-46): a stolen session alone cannot plant a passkey that
    /// would outlive a password reset. It is checked before the ceremony is taken, so a
    /// wrong one tells nothing about the credential.
    pub async fn finish_key_registration(
        &self,
        session: &CurrentSession,
        registration: &KeyRegistration<'_>,
        ctx: &RequestContext,
    ) -> Result<RegisteredKey> {
        let webauthn = self.webauthn()?;
        let user = &session.user;
        let KeyRegistration { challenge_id, name, credential, password } = *registration;
        let name = key_name(name)?;
        self.prove_password(user, password, ProofFor::own("security_key.registration_failed"), ctx).await?;
        let checked = async {
            let ceremony = match self.take_ceremony(Purpose::Register, &session.session.id_hash, challenge_id).await? {
                Ok(c) => c,
                Err(why) => return Ok(Err(why)),
            };
            let reg: RegisterPublicKeyCredential = match parse_answer(credential) {
                Ok(reg) => reg,
                Err(why) => return Ok(Err(why)),
            };
            let state: SecurityKeyRegistration =
                serde_json::from_str(&ceremony.state).map_err(|e| internal("state", e))?;
            let discoverable = reg.extensions.cred_props.as_ref().and_then(|p| p.rk) == Some(true);
            Ok::<_, Error>(match webauthn.finish_securitykey_registration(&reg, &state) {
                Ok(key) => Ok((Credential::from(key), discoverable)),
                Err(e) => Err(Rejection::because(reason_of(&e))),
            })
        };
        let (credential, discoverable) = match checked.await? {
            Ok(ok) => ok,
            Err(why) => return Err(self.registration_refused(user, why.reason, ctx).await),
        };
        // A passkey verifies the person itself: discoverable, and user verification shown.
        let passkey = discoverable && credential.user_verified;
        let now = self.now();
        let credential_id = BASE64URL_NOPAD.encode(credential.cred_id.as_ref());
        let stored = to_json(&credential)?;
        let mut tx = self.store().begin().await?;
        let was_on = factors::of_person(&mut tx, user.id).await?.is_on();
        let new = NewSecurityKey {
            user_id: user.id,
            credential_id: &credential_id,
            name: &name,
            passkey,
            credential: &stored,
            sign_count: i64::from(credential.counter),
            now,
        };
        let Some(id) = security_keys::insert(&mut tx, &new).await? else {
            drop(tx);
            return Err(self.registration_refused(user, "credential_already_registered", ctx).await);
        };
        let detail = json!({ "key_id": id, "name": name, "passkey": passkey });
        self.record(&mut tx, now, ctx, Parties::own(user), "security_key.registered", detail).await?;
        let recovery_codes = if was_on {
            None
        } else {
            let detail = json!({ "method": "webauthn" });
            self.record(&mut tx, now, ctx, Parties::own(user), "two_factor.enabled", detail).await?;
            Some(self.issue_recovery_codes(&mut tx, user, ctx, now).await?)
        };
        let text = format!(
            "a security key (\"{}\") was added to your account. If this was not you, contact your administrator now.",
            twofold_domain::person_name::inert(&name)
        );
        self.queue_notice(&mut tx, user, "A security key was added", &text, now).await?;
        commit(tx).await?;
        let key = SecurityKeyInfo { id, name, created_at: now, last_used_at: None, passkey };
        Ok(RegisteredKey { key, recovery_codes })
    }

    async fn registration_refused(&self, user: &Person, reason: &str, ctx: &RequestContext) -> Error {
        let audited = async {
            let mut conn = self.store().conn().await?;
            let detail = json!({ "reason": reason });
            self.record(&mut conn, self.now(), ctx, Parties::own(user), "security_key.registration_failed", detail)
                .await
        };
        match audited.await {
            Ok(()) if reason == "credential_already_registered" => {
                Error::conflict("already_registered", "This security key is already registered.")
            }
            Ok(()) => Error::invalid(
                "invalid_credential",
                "The security key's answer could not be verified. Start again and follow your browser's prompts.",
            ),
            Err(e) => e,
        }
    }

    pub async fn security_keys(&self, user: &Person) -> Result<Vec<SecurityKeyInfo>> {
        let mut conn = self.store().conn().await?;
        Ok(security_keys::for_user(&mut conn, user.id).await?.iter().map(SecurityKeyInfo::from).collect())
    }

    /// Removes a key after the password (SEC-36). When it was the last factor, 2FA is off:
    /// recovery codes and remembered browsers go with it.
    pub async fn remove_security_key(
        &self,
        user: &Person,
        id: i64,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        self.prove_password(user, password, ProofFor::own("security_key.removal_refused"), ctx).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !security_keys::delete(&mut tx, id, user.id).await? {
            return Err(Error::NotFound("No such security key."));
        }
        self.record(&mut tx, now, ctx, Parties::own(user), "security_key.removed", json!({ "key_id": id })).await?;
        if !factors::of_person(&mut tx, user.id).await?.is_on() {
            twofold_store::recovery_codes::delete_for_user(&mut tx, user.id).await?;
            twofold_store::devices::delete_for_user(&mut tx, user.id).await?;
            let detail = json!({ "by": "self", "why": "last_security_key_removed" });
            self.record(&mut tx, now, ctx, Parties::own(user), "two_factor.disabled", detail).await?;
        }
        let text = "a security key was removed from your account. If this was not you, contact your administrator now.";
        self.queue_notice(&mut tx, user, "A security key was removed", text, now).await?;
        commit(tx).await?;
        Ok(())
    }

    /// "Use a security key" at the second step, first call: the options for `get()`.
    pub async fn start_security_key_step(&self, pending: &PendingSignIn) -> Result<Ceremony> {
        let webauthn = self.webauthn()?;
        let user = &pending.user;
        let mut conn = self.store().conn().await?;
        let rows = security_keys::for_user(&mut conn, user.id).await?;
        drop(conn);
        if rows.is_empty() {
            return Err(Error::conflict("no_security_keys", "You have no security key; use another method."));
        }
        let keys = rows.iter().map(|r| credential_of(r).map(SecurityKey::from)).collect::<Result<Vec<_>>>()?;
        let (options, state) =
            webauthn.start_securitykey_authentication(&keys).map_err(|e| internal("sign-in options", e))?;
        self.begin_ceremony(Purpose::SecondStep, &pending.session.id_hash, Some(user.id), &options, &state).await
    }

    /// Second call: the key's signature completes the sign-in (through the one pipeline).
    pub async fn submit_security_key(
        &self,
        pending: &PendingSignIn,
        challenge_id: &str,
        credential: &serde_json::Value,
        ctx: &RequestContext,
    ) -> Result<NewSessionToken> {
        let webauthn = self.webauthn()?;
        let user = &pending.user;
        self.attempt(Guard::webauthn(user), ctx, |armed| async {
            let ceremony = match self.take_ceremony(Purpose::SecondStep, &pending.session.id_hash, challenge_id).await?
            {
                Ok(c) => c,
                Err(why) => return Ok(Verdict::Rejected(why)),
            };
            let answer: PublicKeyCredential = match parse_answer(credential) {
                Ok(a) => a,
                Err(why) => return Ok(Verdict::Rejected(why)),
            };
            let row = match self.key_of(user, answer.get_credential_id()).await? {
                Ok(row) => row,
                Err(why) => return Ok(Verdict::Rejected(why)),
            };
            let state: SecurityKeyAuthentication =
                serde_json::from_str(&ceremony.state).map_err(|e| internal("state", e))?;
            let result = match webauthn.finish_securitykey_authentication(&answer, &state) {
                Ok(r) => r,
                Err(e) => return Ok(Verdict::Rejected(Rejection::because(reason_of(&e)))),
            };
            let mut tx = self.store().begin().await?;
            if !self.record_key_use(&mut tx, &row, &result).await? {
                return Ok(Verdict::Rejected(Rejection::because("concurrent_use")));
            }
            armed.succeeded(&mut tx).await?;
            let since = factors::of_person(&mut tx, user.id).await?.enabled_since();
            let done = self.complete_sign_in(&mut tx, pending, SecondStep::WebAuthn, since, ctx).await?;
            commit(tx).await?;
            Ok(Verdict::Accepted(done))
        })
        .await
    }

    /// "Sign in with a passkey", first call: options for any discoverable credential of
    /// this site, bound to the browser's pre-sign-in cookie (`binding`, raw).
    pub async fn start_passkey_sign_in(&self, binding: &str) -> Result<Ceremony> {
        let webauthn = self.webauthn()?;
        let (options, state) =
            webauthn.start_discoverable_authentication().map_err(|e| internal("passkey options", e))?;
        self.begin_ceremony(Purpose::Passkey, &token::hash(binding), None, &options, &state).await
    }

    /// Second call: a passkey with user verification signs in without a password; it
    /// counts as both factors.
    pub async fn sign_in_with_passkey(
        &self,
        binding: &str,
        challenge_id: &str,
        credential: &serde_json::Value,
        ctx: &RequestContext,
    ) -> Result<NewSessionToken> {
        let webauthn = self.webauthn()?;
        let answer: PublicKeyCredential = match parse_answer(credential) {
            Ok(a) => a,
            Err(why) => return Err(self.passkey_refused(why.reason, ctx).await),
        };
        let (handle, credential_id) = match webauthn.identify_discoverable_authentication(&answer) {
            Ok(found) => found,
            Err(e) => return Err(self.passkey_refused(reason_of(&e), ctx).await),
        };
        let mut conn = self.store().conn().await?;
        let row = security_keys::by_credential_id(&mut conn, &BASE64URL_NOPAD.encode(credential_id)).await?;
        let Some(row) = row else {
            drop(conn);
            return Err(self.passkey_refused("unknown_credential", ctx).await);
        };
        let person = users::by_id(&mut conn, row.user_id).await?.map(users::UserRow::into_person);
        drop(conn);
        let Some(person) = person.filter(Person::is_active) else {
            return Err(self.passkey_refused("unknown_credential", ctx).await);
        };
        let user = &person;
        self.attempt(Guard::webauthn(user), ctx, |armed| async {
            if !row.passkey || handle != user_handle(user.id) {
                return Ok(Verdict::Rejected(Rejection::because("not_a_passkey")));
            }
            let ceremony = match self.take_ceremony(Purpose::Passkey, &token::hash(binding), challenge_id).await? {
                Ok(c) => c,
                Err(why) => return Ok(Verdict::Rejected(why)),
            };
            let state: DiscoverableAuthentication =
                serde_json::from_str(&ceremony.state).map_err(|e| internal("state", e))?;
            // The state requires user verification: without it the signature is refused.
            let result = match webauthn.finish_discoverable_authentication_v2(&answer, state, credential_of(&row)?) {
                Ok(r) => r,
                Err(e) => return Ok(Verdict::Rejected(Rejection::because(reason_of(&e)))),
            };
            let mut tx = self.store().begin().await?;
            if !self.record_key_use(&mut tx, &row, &result).await? {
                return Ok(Verdict::Rejected(Rejection::because("concurrent_use")));
            }
            armed.succeeded(&mut tx).await?;
            let done = self.complete_passkey_sign_in(&mut tx, user, ctx).await?;
            commit(tx).await?;
            Ok(Verdict::Accepted(done))
        })
        .await
    }

    /// A passkey answer for no known person: audited outside any account, then refused.
    async fn passkey_refused(&self, reason: &str, ctx: &RequestContext) -> Error {
        let audited = async {
            let mut conn = self.store().conn().await?;
            let detail = json!({ "method": "passkey", "reason": reason });
            self.record(&mut conn, self.now(), ctx, Parties::default(), "sign_in.webauthn_rejected", detail).await
        };
        match audited.await {
            Ok(()) => Error::InvalidSecurityKey,
            Err(e) => e,
        }
    }

    /// The registered key behind an answer's credential id, if it is this person's.
    async fn key_of(&self, user: &Person, credential_id: &[u8]) -> Result<Result<SecurityKeyRow, Rejection>> {
        let mut conn = self.store().conn().await?;
        let row = security_keys::by_credential_id(&mut conn, &BASE64URL_NOPAD.encode(credential_id)).await?;
        Ok(match row {
            None => Err(Rejection::because("unknown_credential")),
            Some(row) if row.user_id != user.id => Err(Rejection::because("credential_of_another_person")),
            Some(row) => Ok(row),
        })
    }

    /// Stores the new counter and flags after a use; false when a concurrent use of the
    /// same key got there first.
    async fn record_key_use(
        &self,
        tx: &mut twofold_store::Conn,
        row: &SecurityKeyRow,
        result: &webauthn_rs::prelude::AuthenticationResult,
    ) -> Result<bool> {
        let mut key = SecurityKey::from(credential_of(row)?);
        key.update_credential(result);
        let credential = Credential::from(key);
        let stored = to_json(&credential)?;
        let now = self.now();
        let updated =
            security_keys::record_use(tx, row.id, row.sign_count, i64::from(result.counter()), &stored, now).await?;
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_needs_a_host_name() {
        assert!(relying_party("http://localhost:8080", "Twofold").is_some());
        assert!(relying_party("https://login.example.com", "Twofold").is_some());
        assert!(relying_party("http://127.0.0.1:8080", "Twofold").is_none());
        assert!(relying_party("not a url", "Twofold").is_none());
    }

    #[test]
    fn user_handles_differ_per_person_and_never_change() {
        assert_eq!(user_handle(7), user_handle(7));
        assert_ne!(user_handle(7), user_handle(8));
    }

    #[test]
    fn key_names_are_bounded() {
        assert_eq!(key_name("  YubiKey 5  ").ok(), Some("YubiKey 5".into()));
        assert!(key_name("").is_err());
        assert!(key_name(&"x".repeat(65)).is_err());
        assert!(key_name("bad\nname").is_err());
    }

    #[test]
    fn sec_36_a_counter_gone_back_has_its_own_reason() {
        assert_eq!(reason_of(&WebauthnError::CredentialPossibleCompromise), "counter_went_back");
        assert_eq!(reason_of(&WebauthnError::InvalidRPOrigin), "wrong_origin");
        assert_eq!(reason_of(&WebauthnError::UserNotVerified), "user_not_verified");
    }
}
