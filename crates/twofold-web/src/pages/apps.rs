//! The Apps tab under Users, Plans and Billing: the Owner registers, re-keys and removes
//! the account's OpenID Connect applications. The JSON twin is `api/apps.rs`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use twofold_app::domain::api_token::Scope;
use twofold_app::domain::oidc::jws::Alg;
use twofold_app::oidc::clients::AppInfo;
use twofold_app::oidc::clients::NewApp;
use twofold_app::tokens::NewApiToken;

use super::form::CsrfForm;
use super::{Chrome, PageError, render, when};
use crate::AppState;
use crate::client::Client;
use crate::error::message;
use crate::session::PageUser;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/apps", get(show).post(add))
        .route("/apps/{client_id}/secret", post(rotate_secret))
        .route("/apps/{client_id}/remove", post(remove))
        .route("/apps/tokens", post(create_token))
        .route("/apps/tokens/{id}/revoke", post(revoke_token))
}

/// Credentials shown once, right after they were made.
pub struct Shown {
    client_id: String,
    client_secret: Option<String>,
}

pub struct AppRow {
    client_id: String,
    name: String,
    public: bool,
    require_two_factor: bool,
    id_token_alg: &'static str,
    redirect_uris: Vec<String>,
}

/// An API token as the Apps tab lists it.
pub struct TokenRow {
    id: i64,
    name: String,
    scopes: String,
    created: String,
    expires: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "apps.html")]
struct AppsPage {
    chrome: Chrome,
    issuer: String,
    apps: Vec<AppRow>,
    tokens: Vec<TokenRow>,
    /// A token just made, shown this once.
    new_token: Option<String>,
    /// Every scope, for the form: (value, field name, what it allows).
    scopes: Vec<(&'static str, String, &'static str)>,
    shown: Option<Shown>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct AppsQuery {
    #[serde(default)]
    removed: Option<String>,
}

/// The page with the account's applications; `Err` is the error page (not the Owner).
async fn page(
    state: &AppState,
    user: &PageUser,
    ctx: &twofold_app::RequestContext,
    shown: Option<Shown>,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    page_with_token(state, user, ctx, (shown, None), notice, error).await
}

/// The page, with the credentials just made: an application's, or a new API token.
async fn page_with_token(
    state: &AppState,
    user: &PageUser,
    ctx: &twofold_app::RequestContext,
    (shown, new_token): (Option<Shown>, Option<String>),
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let listed = tokio::try_join!(state.app.apps(&user.0.user, ctx), state.app.api_tokens(&user.0.user, ctx));
    let (apps, tokens): (Vec<AppInfo>, _) = match listed {
        Ok(both) => both,
        Err(e) => return PageError::signed_in(&user.0, e),
    };
    let tokens = tokens
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            name: t.name,
            scopes: t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
            created: when(Some(t.created_at)),
            expires: when(Some(t.expires_at)),
            last_used: when(t.last_used_at),
        })
        .collect();
    let apps = apps
        .into_iter()
        .map(|r| AppRow {
            client_id: r.facts.client_id,
            name: r.facts.name,
            public: r.facts.public,
            require_two_factor: r.facts.require_two_factor,
            id_token_alg: r.facts.id_token_alg.as_str(),
            redirect_uris: r.facts.redirect_uris,
        })
        .collect();
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = AppsPage {
        chrome: Chrome::signed_in(&user.0),
        issuer: state.app.issuer().to_owned(),
        apps,
        tokens,
        new_token,
        scopes: Scope::ACCOUNT.iter().map(|s| (s.as_str(), scope_field(*s), scope_hint(*s))).collect(),
        shown,
        notice,
        error,
    };
    render(status, &page)
}

async fn show(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    query: Result<axum::extract::Query<AppsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let removed = query.ok().and_then(|q| q.0.removed).is_some();
    page(&state, &user, &ctx, None, removed.then(|| "The application was removed.".to_owned()), None).await
}

#[derive(Debug, Deserialize)]
pub struct AppForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    #[serde(default)]
    public: Option<String>,
    #[serde(default)]
    require_two_factor: Option<String>,
    #[serde(default)]
    id_token_alg: String,
}

#[derive(Debug, Deserialize)]
pub struct PlainForm {
    #[serde(default)]
    csrf_token: String,
}

crate::has_csrf!(AppForm, PlainForm);

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

async fn add(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<AppForm>,
) -> Response {
    let new = NewApp {
        name: form.name,
        redirect_uris: lines(&form.redirect_uris),
        post_logout_redirect_uris: lines(&form.post_logout_redirect_uris),
        public: form.public.is_some(),
        require_two_factor: form.require_two_factor.is_some(),
        id_token_alg: Alg::parse(&form.id_token_alg).unwrap_or_default(),
    };
    match state.app.add_app(&user.0.user, &new, &ctx).await {
        Ok(created) => {
            let shown = Shown { client_id: created.client.client_id, client_secret: created.client_secret };
            page(&state, &user, &ctx, Some(shown), Some(format!("{} was added.", created.client.name)), None).await
        }
        Err(e @ twofold_app::Error::Invalid { .. }) => page(&state, &user, &ctx, None, None, Some(message(&e))).await,
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

async fn rotate_secret(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path(client_id): Path<String>,
    CsrfForm(_): CsrfForm<PlainForm>,
) -> Response {
    match state.app.rotate_app_secret(&user.0.user, &client_id, &ctx).await {
        Ok(secret) => {
            let shown = Shown { client_id, client_secret: Some(secret) };
            page(
                &state,
                &user,
                &ctx,
                Some(shown),
                Some("A new secret was made; the old one no longer works.".into()),
                None,
            )
            .await
        }
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

async fn remove(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path(client_id): Path<String>,
    CsrfForm(_): CsrfForm<PlainForm>,
) -> Response {
    match state.app.remove_app(Some(&user.0.user), &client_id, &ctx).await {
        Ok(()) => Redirect::to("/apps?removed=1").into_response(),
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

/// The form field of a scope's checkbox (`scope_people_read`).
fn scope_field(scope: Scope) -> String {
    format!("scope_{}", scope.as_str().replace(':', "_"))
}

fn scope_hint(scope: Scope) -> &'static str {
    match scope {
        Scope::PeopleRead => "list and read people and groups",
        Scope::PeopleWrite => "invite, deactivate, remove people and change roles",
        Scope::GroupsWrite => "make, fill and delete groups",
        Scope::AuditRead => "read the audit log",
        Scope::Scim => "SCIM provisioning from a directory",
        Scope::Webhooks => "manage webhooks",
        Scope::AccountsWrite => "create accounts (instance tokens only)",
    }
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    expires_in_days: String,
    #[serde(default)]
    password: String,
    /// The checked scopes, by field name (`scope_people_read=on`).
    #[serde(flatten)]
    checked: std::collections::HashMap<String, String>,
}

crate::has_csrf!(TokenForm);

async fn create_token(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> Response {
    let scopes: Vec<&str> =
        Scope::ACCOUNT.iter().filter(|s| form.checked.contains_key(&scope_field(**s))).map(|s| s.as_str()).collect();
    let days = form.expires_in_days.trim().parse::<i64>().ok();
    let new = NewApiToken { name: &form.name, scopes: &scopes, expires_in_days: days };
    match state.app.create_api_token(&user.0.user, &new, &form.password, &ctx).await {
        Ok(created) => {
            let notice = Some(format!("The token {} was made.", created.token.name));
            page_with_token(&state, &user, &ctx, (None, Some(created.raw)), notice, None).await
        }
        Err(e @ (twofold_app::Error::Invalid { .. } | twofold_app::Error::InvalidCredentials)) => {
            page(&state, &user, &ctx, None, None, Some(message(&e))).await
        }
        Err(e) => PageError::signed_in(&user.0, e),
    }
}

async fn revoke_token(
    State(state): State<AppState>,
    user: PageUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<PlainForm>,
) -> Response {
    let result = match crate::path_id::parse(&id) {
        Some(id) => state.app.revoke_api_token(&user.0.user, id, &ctx).await,
        None => Err(twofold_app::Error::NotFound("No such token.")),
    };
    match result {
        Ok(()) => page(&state, &user, &ctx, None, Some("The token was revoked.".into()), None).await,
        Err(e) => PageError::signed_in(&user.0, e),
    }
}
