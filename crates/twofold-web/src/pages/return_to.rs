//! Back to a protected application after signing in (forward auth's `rd`), and signing out
//! from one. `rd` is kept in a short-lived cookie from the login page (or the 2FA wizard)
//! to the end of sign-in, and honoured only for hosts a forward-auth rule names (SEC-43).

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;
use twofold_app::App;

use super::{Chrome, render};
use crate::AppState;
use crate::session::{AnySession, PageUser};

pub fn router() -> Router<AppState> {
    Router::new().route("/continue", get(continue_to)).route("/logout", get(show_logout))
}

/// How long a pending `rd` lasts: a sign-in with a code, or the 2FA wizard, fits in it.
const RD_MINUTES: i64 = 30;

fn cookie_name(app: &App) -> &'static str {
    if app.config().is_https() { "__Host-twofold_rd" } else { "twofold_rd" }
}

#[derive(Debug, Deserialize, Default)]
pub struct RdQuery {
    #[serde(default)]
    pub rd: Option<String>,
}

/// The `rd` cookie with `value`, with the attributes its prefix demands (a removal must
/// carry them too, or a browser ignores it under HTTPS).
fn rd_cookie(app: &App, value: String) -> Cookie<'static> {
    Cookie::build((cookie_name(app), value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(app.config().is_https())
        .max_age(time::Duration::minutes(RD_MINUTES))
        .build()
}

/// Keeps `rd` for after sign-in, if a rule names its host; an unlisted one is dropped.
pub fn remember(app: &App, jar: CookieJar, rd: Option<&str>) -> CookieJar {
    match rd.and_then(|rd| app.return_url(rd)) {
        Some(url) => jar.add(rd_cookie(app, url.to_owned())),
        None => jar,
    }
}

/// Forgets a kept `rd`.
pub fn forget(app: &App, jar: CookieJar) -> CookieJar {
    let mut removal = rd_cookie(app, String::new());
    removal.make_removal();
    jar.add(removal)
}

/// The URL kept by [`remember`], checked again (the rules may have changed meanwhile).
pub fn kept(app: &App, jar: &CookieJar) -> Option<String> {
    jar.get(cookie_name(app)).and_then(|c| app.return_url(c.value())).map(str::to_owned)
}

#[derive(Debug, Deserialize, Default)]
pub struct ContinueQuery {
    /// `profile` when the 2FA wizard ends: without a kept `rd`, the profile, not Home.
    #[serde(default)]
    to: Option<String>,
}

/// Where sign-in and the wizard end: the kept `rd`, once, or Home (or the profile).
async fn continue_to(
    State(state): State<AppState>,
    PageUser(session): PageUser,
    jar: CookieJar,
    query: Result<Query<ContinueQuery>, QueryRejection>,
) -> Response {
    let fallback = match query.ok().and_then(|q| q.0.to) {
        Some(to) if to == "profile" => format!("/users/{}?two_factor=on", session.user.id),
        _ => "/home".to_owned(),
    };
    match kept(&state.app, &jar) {
        // Back to an application's authorization request: a page that moves on by itself,
        // not a redirect, because a browser holds the whole redirect chain of the form just
        // sent to the CSP's form-action, and the application's address is not in it.
        Some(url) if twofold_app::oidc::authorize::is_return_path(&url) => {
            (forget(&state.app, jar), leaving("Continuing to the application…", &url)).into_response()
        }
        Some(url) => (forget(&state.app, jar), Redirect::to(&url)).into_response(),
        None => Redirect::to(&fallback).into_response(),
    }
}

#[derive(Template)]
#[template(path = "leaving.html")]
struct LeavingPage<'a> {
    chrome: Chrome,
    heading: &'a str,
    url: &'a str,
    /// Go there by itself; else only offer the link.
    automatic: bool,
}

/// A page that goes on to `url` by itself (a meta refresh): a new navigation, outside the
/// redirect chain of the form that led here.
pub fn leaving(heading: &str, url: &str) -> Response {
    render(StatusCode::OK, &LeavingPage { chrome: Chrome::anonymous(String::new()), heading, url, automatic: true })
}

/// The same page, offering `url` as a link only (an address this server does not vouch for).
pub fn linking(heading: &str, url: &str) -> Response {
    render(StatusCode::OK, &LeavingPage { chrome: Chrome::anonymous(String::new()), heading, url, automatic: false })
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    chrome: Chrome,
    rd: String,
}

/// The sign-out link a protected application shows: `/logout?rd=<its URL>`. Signing out is
/// a POST with the session's CSRF token, so this asks first; signed out already, it goes
/// straight back to `rd` (if a rule names its host) or to the login page.
async fn show_logout(
    State(state): State<AppState>,
    AnySession(session): AnySession,
    query: Result<Query<RdQuery>, QueryRejection>,
) -> Response {
    let rd = query.ok().and_then(|q| q.0.rd).and_then(|rd| state.app.return_url(&rd).map(str::to_owned));
    match session {
        Some(current) => {
            render(StatusCode::OK, &LogoutPage { chrome: Chrome::signed_in(&current), rd: rd.unwrap_or_default() })
        }
        None => Redirect::to(rd.as_deref().unwrap_or("/login")).into_response(),
    }
}
