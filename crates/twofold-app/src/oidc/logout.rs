//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): an application ends the
//! person's Twofold session and is returned to, only ever at a post-logout URI it
//! registered. With a valid `id_token_hint` for this very session nothing is asked; else
//! the person confirms, so that no other site can sign them out by a link.

use serde_json::{Value, json};
use twofold_domain::oidc::jws;
use twofold_store::oidc::clients;
use twofold_store::oidc::grants;
use twofold_store::{Realm, commit, sessions};

use super::claims::session_id;
use super::with_query;
use crate::audit::Parties;
use crate::sign_in::CurrentSession;
use crate::{App, RequestContext, Result};

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutAnswer {
    /// Shown on a page (400): the request cannot be honoured as sent.
    Refused(&'static str),
    /// Ask the person first; the confirmation sends `client_id`, the URI and `state` back.
    Ask { app_name: Option<String>, client_id: Option<String> },
    /// Signed out (or was not signed in): on to `then`, or a signed-out page. Not
    /// `automatic` when an account's Owner registered the address and no session of that
    /// account asked: the page links to it instead of going there (no open redirect).
    Done { then: Option<String>, automatic: bool },
}

/// The application a logout names and where it wants the person back.
struct Target {
    client_id: Option<String>,
    app_name: Option<String>,
    then: Option<String>,
    /// The hint's `sub` and `sid`, when it verified.
    hinted: Option<(String, String)>,
    /// The account of an application registered by an account's Owner.
    account_id: Option<i64>,
}

impl App {
    /// `confirmed`: the person answered the question (a POST with their CSRF token).
    pub async fn end_session(
        &self,
        params: &LogoutParams,
        session: Option<&CurrentSession>,
        confirmed: bool,
        ctx: &RequestContext,
    ) -> Result<LogoutAnswer> {
        let target = match self.logout_target(params).await? {
            Ok(target) => target,
            Err(why) => return Ok(LogoutAnswer::Refused(why)),
        };
        let automatic = target.account_id.is_none_or(|a| session.is_some_and(|s| s.user.account_id == a));
        let Some(current) = session else { return Ok(LogoutAnswer::Done { then: target.then, automatic }) };
        let hint_is_this_session = target.hinted.as_ref().is_some_and(|(sub, sid)| {
            *sub == current.user.id.to_string() && *sid == session_id(&current.session.id_hash)
        });
        if !confirmed && !hint_is_this_session {
            return Ok(LogoutAnswer::Ask { app_name: target.app_name, client_id: target.client_id });
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if sessions::delete(&mut tx, Realm::People, &current.session.id_hash).await? {
            let revoked = grants::revoke_for_session(&mut tx, &current.session.id_hash, now, "logout").await?;
            let detail = json!({ "client_id": target.client_id, "app_grants_revoked": revoked });
            self.record(&mut tx, now, ctx, Parties::own(&current.user), "oidc.logout", detail).await?;
        }
        commit(tx).await?;
        Ok(LogoutAnswer::Done { then: target.then, automatic })
    }

    async fn logout_target(&self, params: &LogoutParams) -> Result<std::result::Result<Target, &'static str>> {
        let hint = match params.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
            None => None,
            // Expired hints are fine (the spec allows them): only the signature is asked.
            Some(hint) => match jws::verify(hint, &self.published_keys().await?) {
                Ok(claims) => Some(claims),
                Err(_) => return Ok(Err("The id_token_hint was not issued by this server.")),
            },
        };
        let hinted_client = hint.as_ref().and_then(|c| c.get("aud")).and_then(Value::as_str).map(str::to_owned);
        let client_id = match (params.client_id.clone().filter(|c| !c.is_empty()), hinted_client) {
            (Some(a), Some(b)) if a != b => {
                return Ok(Err("client_id and the id_token_hint name different applications."));
            }
            (a, b) => a.or(b),
        };
        let client = match client_id.as_deref() {
            Some(id) if id.len() <= 100 => {
                let mut conn = self.store().conn().await?;
                match clients::by_id(&mut conn, id).await? {
                    Some(row) => Some(row.facts),
                    None => return Ok(Err("This application is not registered here.")),
                }
            }
            Some(_) => return Ok(Err("This application is not registered here.")),
            None => None,
        };
        let then = match (params.post_logout_redirect_uri.as_deref().filter(|u| !u.is_empty()), &client) {
            (None, _) => None,
            (Some(uri), Some(c)) if c.allows_post_logout_redirect(uri) => {
                let state = params.state.as_deref().filter(|s| !s.is_empty() && s.chars().count() <= 1024);
                Some(match state {
                    Some(state) => with_query(uri, &[("state", state)]),
                    None => uri.to_owned(),
                })
            }
            (Some(_), _) => return Ok(Err("The application asked to return to an address it has not registered.")),
        };
        let hinted = hint.map(|c| {
            let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            (text("sub"), text("sid"))
        });
        let account_id = client.as_ref().and_then(|c| c.account_id);
        Ok(Ok(Target { app_name: client.map(|c| c.name), client_id, then, hinted, account_id }))
    }
}
