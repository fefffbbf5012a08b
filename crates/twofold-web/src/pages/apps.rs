//! The Apps tab under Users, Plans and Billing: the Owner registers, re-keys and removes
//! the account's OpenID Connect applications. The JSON twin is `api/apps.rs`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use twofold_app::domain::oidc::jws::Alg;
use twofold_app::oidc::clients::AppInfo;
use twofold_app::oidc::clients::NewApp;

use super::form::CsrfForm;
use super::{Chrome, PageError, render};
use crate::AppState;
use crate::client::Client;
use crate::error::message;
use crate::session::PageUser;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/apps", get(show).post(add))
        .route("/apps/{client_id}/secret", post(rotate_secret))
        .route("/apps/{client_id}/remove", post(remove))
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

#[derive(Template)]
#[template(path = "apps.html")]
struct AppsPage {
    chrome: Chrome,
    issuer: String,
    apps: Vec<AppRow>,
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
    let apps: Vec<AppInfo> = match state.app.apps(&user.0.user, ctx).await {
        Ok(apps) => apps,
        Err(e) => return PageError::signed_in(&user.0, e),
    };
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
