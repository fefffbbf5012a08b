//! The token endpoint (codes and refresh tokens, SEC-40 and SEC-42), userinfo, and
//! revocation (RFC 7009). Every code and refresh token is taken by one conditional update,
//! so of concurrent redemptions exactly one wins; the loser's discovery of a used code or
//! rotated refresh token revokes the whole grant.

use serde_json::{Map, Value, json};
use twofold_domain::oidc::{ACCESS_TOKEN_SECONDS, REFRESH_TOKEN_SECONDS, has_scope, pkce};
use twofold_domain::token;
use twofold_store::oidc::clients::ClientRow;
use twofold_store::oidc::grants::{self, CodeRefusal, GrantRow, RefreshRefusal, TokenKind};
use twofold_store::{Conn, commit};

use super::OAuthError;
use super::claims::{id_token_claims, person_claims};
use super::clients::ClientAuth;
use crate::audit::Parties;
use crate::{App, RequestContext};

type OAuthResult<T> = std::result::Result<T, OAuthError>;

/// The form of a token request, as sent.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// A successful token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenAnswer {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// A code or token as sent: one of ours has a fixed shape, so anything else is refused
/// before a lookup.
fn well_formed(value: Option<&str>, what: &str) -> OAuthResult<String> {
    match value {
        Some(v) if token::is_well_formed(v) => Ok(v.to_owned()),
        Some(_) => Err(OAuthError::invalid_grant(format!("The {what} is invalid."))),
        None => Err(OAuthError::invalid_request(format!("The {what} is missing."))),
    }
}

impl App {
    pub async fn token(&self, auth: &ClientAuth, req: &TokenRequest, ctx: &RequestContext) -> OAuthResult<TokenAnswer> {
        match req.grant_type.as_deref() {
            Some("authorization_code") => self.redeem_code(auth, req, ctx).await,
            Some("refresh_token") => self.refresh(auth, req, ctx).await,
            Some(_) => Err(OAuthError::new(400, "unsupported_grant_type", "Use authorization_code or refresh_token.")),
            None => Err(OAuthError::invalid_request("grant_type is missing.")),
        }
    }

    async fn redeem_code(
        &self,
        auth: &ClientAuth,
        req: &TokenRequest,
        ctx: &RequestContext,
    ) -> OAuthResult<TokenAnswer> {
        // The client first (RFC 6749 §5.2: a bad client is invalid_client, whatever else).
        let client = self.client_of(auth).await?;
        let code = well_formed(req.code.as_deref(), "code")?;
        let key = self.signing_key(client.facts.id_token_alg).await?;
        let now = self.now();
        // The conditional update comes first in the transaction: on SQLite a transaction
        // that read before writing could not take the write lock after a concurrent commit.
        let mut tx = self.store().begin().await?;
        let taken = match grants::take_code(&mut tx, &token::hash(&code), now).await? {
            Ok(taken) => taken,
            Err(CodeRefusal::Used { grant_id }) => {
                // A replay: whoever holds the code besides the application may hold its
                // tokens too, so everything the first redemption issued is revoked.
                let revoked = grants::revoke(&mut tx, grant_id, now, "code_replayed").await?;
                let parties = self.grant_parties(&mut tx, grant_id).await?;
                let detail = json!({ "client_id": client.facts.client_id, "grant": grant_id, "revoked": revoked });
                self.record(&mut tx, now, ctx, parties, "oidc.code_replayed", detail).await?;
                commit(tx).await?;
                return Err(OAuthError::invalid_grant("The code was already used."));
            }
            Err(CodeRefusal::Expired) => return Err(OAuthError::invalid_grant("The code has expired.")),
            Err(CodeRefusal::Unknown) => return Err(OAuthError::invalid_grant("The code is invalid.")),
        };
        let fault = code_fault(&client, req, &taken.grant, &taken.redirect_uri, taken.code_challenge.as_deref(), now);
        if let Some(fault) = fault {
            // The code is spent either way: a guessed verifier gets one try.
            grants::revoke(&mut tx, taken.grant.id, now, "code_refused").await?;
            self.audit_token_refused(&mut tx, &client, &taken.grant, &fault, ctx, now).await?;
            commit(tx).await?;
            return Err(fault);
        }
        let answer = self.issue_tokens(&mut tx, &taken.grant, now).await?;
        let subject = self
            .subject_of(&mut tx, &taken.grant)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("No such person."))?;
        let detail =
            json!({ "client_id": client.facts.client_id, "grant": taken.grant.id, "grant_type": "authorization_code" });
        self.record(&mut tx, now, ctx, Parties::own(&subject.person), "oidc.token_issued", detail).await?;
        commit(tx).await?;
        let id_token = key.sign(&id_token_claims(self.issuer(), &subject, &taken.grant, now));
        Ok(TokenAnswer { id_token, ..answer })
    }

    async fn refresh(&self, auth: &ClientAuth, req: &TokenRequest, ctx: &RequestContext) -> OAuthResult<TokenAnswer> {
        let client = self.client_of(auth).await?;
        let presented = well_formed(req.refresh_token.as_deref(), "refresh token")?;
        let key = self.signing_key(client.facts.id_token_alg).await?;
        let now = self.now();
        // The conditional update comes first in the transaction: on SQLite a transaction
        // that read before writing could not take the write lock after a concurrent commit.
        let mut tx = self.store().begin().await?;
        let grant = match grants::rotate_refresh(&mut tx, &token::hash(&presented), now).await? {
            Ok(grant) => grant,
            Err(RefreshRefusal::Reused { grant_id }) => {
                // SEC-42: a rotated token came back, so two parties hold the family.
                let revoked = grants::revoke(&mut tx, grant_id, now, "refresh_reused").await?;
                let parties = self.grant_parties(&mut tx, grant_id).await?;
                let detail = json!({ "client_id": client.facts.client_id, "grant": grant_id, "revoked": revoked });
                self.record(&mut tx, now, ctx, parties, "oidc.refresh_reused", detail).await?;
                commit(tx).await?;
                return Err(OAuthError::invalid_grant("The refresh token was already used."));
            }
            Err(_) => return Err(OAuthError::invalid_grant("The refresh token is invalid or expired.")),
        };
        if grant.client_id != client.facts.client_id {
            grants::revoke(&mut tx, grant.id, now, "refresh_by_other_client").await?;
            let fault = OAuthError::invalid_grant("The refresh token was not issued to this client.");
            self.audit_token_refused(&mut tx, &client, &grant, &fault, ctx, now).await?;
            commit(tx).await?;
            return Err(fault);
        }
        if grant.revoked_at.is_some() || grant.expires_at <= now {
            return Err(OAuthError::invalid_grant("The sign-in behind this token has ended."));
        }
        let answer = self.issue_tokens(&mut tx, &grant, now).await?;
        let subject =
            self.subject_of(&mut tx, &grant).await?.ok_or_else(|| OAuthError::invalid_grant("No such person."))?;
        let detail = json!({ "client_id": client.facts.client_id, "grant": grant.id, "grant_type": "refresh_token" });
        self.record(&mut tx, now, ctx, Parties::own(&subject.person), "oidc.token_issued", detail).await?;
        commit(tx).await?;
        let id_token = key.sign(&id_token_claims(self.issuer(), &subject, &grant, now));
        Ok(TokenAnswer { id_token, ..answer })
    }

    async fn client_of(&self, auth: &ClientAuth) -> OAuthResult<ClientRow> {
        let mut conn = self.store().conn().await?;
        self.authenticate_client(&mut conn, auth).await
    }

    /// A new access token, and with `offline_access` a new refresh token, for the grant.
    async fn issue_tokens(&self, tx: &mut Conn, grant: &GrantRow, now: i64) -> OAuthResult<TokenAnswer> {
        let access = token::generate(self.entropy());
        grants::insert_token(tx, &access.hash, grant.id, TokenKind::Access, now, now + ACCESS_TOKEN_SECONDS).await?;
        let refresh_token = if has_scope(&grant.scope, "offline_access") {
            let refresh = token::generate(self.entropy());
            let expires = (now + REFRESH_TOKEN_SECONDS).min(grant.expires_at);
            grants::insert_token(tx, &refresh.hash, grant.id, TokenKind::Refresh, now, expires).await?;
            Some(refresh.raw)
        } else {
            None
        };
        Ok(TokenAnswer {
            access_token: access.raw,
            token_type: "Bearer",
            expires_in: ACCESS_TOKEN_SECONDS,
            id_token: String::new(),
            refresh_token,
            scope: grant.scope.clone(),
        })
    }

    /// A redemption refused after its code or token was taken: the grant is revoked, and
    /// the attempt recorded in the person's account (SEC-30).
    async fn audit_token_refused(
        &self,
        tx: &mut Conn,
        client: &ClientRow,
        grant: &GrantRow,
        fault: &OAuthError,
        ctx: &RequestContext,
        now: i64,
    ) -> OAuthResult<()> {
        let parties = self.grant_parties(tx, grant.id).await?;
        let detail = json!({ "client_id": client.facts.client_id, "grant": grant.id, "why": fault.description });
        self.record(tx, now, ctx, parties, "oidc.token_refused", detail).await?;
        Ok(())
    }

    async fn grant_parties(&self, conn: &mut Conn, grant_id: i64) -> OAuthResult<Parties> {
        let Some(grant) = grants::grant(conn, grant_id).await? else { return Ok(Parties::default()) };
        Ok(match self.subject_of(conn, &grant).await? {
            Some(subject) => Parties::own(&subject.person),
            None => Parties::default(),
        })
    }

    /// The userinfo endpoint: the claims of the access token's grant.
    pub async fn userinfo(&self, access_token: &str) -> OAuthResult<Map<String, Value>> {
        if !token::is_well_formed(access_token) {
            return Err(OAuthError::invalid_token());
        }
        let mut conn = self.store().conn().await?;
        let grant = grants::by_access_token(&mut conn, &token::hash(access_token), self.now())
            .await?
            .ok_or_else(OAuthError::invalid_token)?;
        let subject = self.subject_of(&mut conn, &grant).await?.ok_or_else(OAuthError::invalid_token)?;
        Ok(person_claims(&subject, &grant))
    }

    /// RFC 7009: revoking a refresh token ends its grant (and the access tokens with it);
    /// an access token ends alone. Unknown tokens, and other clients' tokens, are answered
    /// the same: success, and nothing done.
    pub async fn revoke(&self, auth: &ClientAuth, presented: Option<&str>, ctx: &RequestContext) -> OAuthResult<()> {
        let presented = presented.ok_or_else(|| OAuthError::invalid_request("The token is missing."))?;
        let now = self.now();
        let client = self.client_of(auth).await?;
        if !token::is_well_formed(presented) {
            return Ok(());
        }
        let hash = token::hash(presented);
        let mut conn = self.store().conn().await?;
        let found = grants::token_grant(&mut conn, &hash).await?;
        drop(conn);
        let Some((kind, grant)) = found.filter(|(_, g)| g.client_id == client.facts.client_id) else { return Ok(()) };
        let mut tx = self.store().begin().await?;
        match kind {
            TokenKind::Refresh => grants::revoke(&mut tx, grant.id, now, "revoked_by_client").await?,
            TokenKind::Access => grants::revoke_token(&mut tx, &hash, now).await?,
        };
        let parties = self.grant_parties(&mut tx, grant.id).await?;
        let detail = json!({ "client_id": client.facts.client_id, "grant": grant.id, "kind": kind.as_str() });
        self.record(&mut tx, now, ctx, parties, "oidc.token_revoked", detail).await?;
        commit(tx).await?;
        Ok(())
    }
}

/// What is wrong with a redemption of a code just taken, if anything (SEC-40).
fn code_fault(
    client: &ClientRow,
    req: &TokenRequest,
    grant: &GrantRow,
    redirect_uri: &str,
    challenge: Option<&str>,
    now: i64,
) -> Option<OAuthError> {
    if grant.client_id != client.facts.client_id {
        return Some(OAuthError::invalid_grant("The code was not issued to this client."));
    }
    if req.redirect_uri.as_deref() != Some(redirect_uri) {
        return Some(OAuthError::invalid_grant("redirect_uri differs from the authorization request's."));
    }
    let pkce_ok = match (challenge, req.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) => pkce::verifies(verifier, challenge),
        (None, None) => !client.facts.public,
        // A verifier without a challenge is a downgrade attempt (RFC 9700 §2.1.1).
        _ => false,
    };
    if !pkce_ok {
        return Some(OAuthError::invalid_grant("The PKCE code_verifier does not match."));
    }
    if grant.revoked_at.is_some() || grant.expires_at <= now {
        return Some(OAuthError::invalid_grant("The sign-in behind this code has ended."));
    }
    None
}
