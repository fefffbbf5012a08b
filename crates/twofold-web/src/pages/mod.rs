//! Server-rendered pages: each a thin handler over `twofold-app`, with a JSON twin in `api`.

mod admin;
mod apps;
mod audit;
mod auth;
mod charts;
mod factors;
pub(crate) mod form;
mod groups;
mod overview;
mod passwords;
mod people;
mod recovery;
pub(crate) mod return_to;
mod setup;
mod support;
mod support_operators;
pub(crate) mod two_factor;
mod webhooks;

use askama::Template;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use twofold_app::Error;
use twofold_app::sign_in::CurrentSession;

use crate::AppState;
use crate::error::{classify, message};

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(auth::router())
        .merge(setup::router())
        .merge(passwords::router())
        .merge(people::router())
        .merge(groups::router())
        .merge(webhooks::router())
        .merge(two_factor::router())
        .merge(factors::router())
        .merge(admin::router())
        .merge(apps::router())
        .merge(support::router())
        .merge(support_operators::router())
        .merge(recovery::router())
        .merge(return_to::router())
        .merge(audit::router())
        .merge(overview::router())
        .route("/static/app.css", get(|| asset("text/css", include_str!("../../static/app.css"))))
        .route("/static/app.js", get(|| asset("text/javascript", include_str!("../../static/app.js"))))
        .route("/static/webauthn.js", get(|| asset("text/javascript", include_str!("../../static/webauthn.js"))))
        .fallback(not_found)
}

/// A file compiled into the binary: no build step, served from our own origin (the CSP
/// allows scripts from nowhere else).
async fn asset(content_type: &'static str, body: &'static str) -> Response {
    let content_type = format!("{content_type}; charset=utf-8");
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600".into())], body)
        .into_response()
}

/// The signed-in person as the page header shows them.
pub struct Me {
    pub id: i64,
    pub name: String,
    /// An Owner or Administrator: the header links to the audit log.
    pub is_manager: bool,
}

/// What the shared layout needs: who is signed in, and the token its forms carry.
pub struct Chrome {
    pub me: Option<Me>,
    pub csrf_token: String,
}

impl Chrome {
    pub fn signed_in(session: &CurrentSession) -> Self {
        Self {
            me: Some(Me {
                id: session.user.id,
                name: session.user.name.clone(),
                is_manager: session.user.role.is_manager(),
            }),
            csrf_token: session.csrf_token.clone(),
        }
    }

    pub fn anonymous(csrf_token: String) -> Self {
        Self { me: None, csrf_token }
    }
}

/// Renders a template, or a plain error page if the template itself fails.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub chrome: Chrome,
    pub heading: String,
    pub text: String,
    pub next_href: &'static str,
    pub next_label: &'static str,
}

/// An application error as a readable page with the right status.
pub struct PageError {
    pub error: Error,
    pub chrome: Chrome,
}

impl PageError {
    pub fn new(error: Error, chrome: Chrome) -> Self {
        Self { error, chrome }
    }

    /// The error page of a signed-in person: the usual case, in one call.
    pub fn signed_in(session: &CurrentSession, error: Error) -> Response {
        PageError::new(error, Chrome::signed_in(session)).into_response()
    }

    /// The error page of someone not signed in (or whose session could not be read).
    pub fn anonymous(error: Error) -> Response {
        PageError::new(error, Chrome::anonymous(String::new())).into_response()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, _) = classify(&self.error);
        let heading = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let (next_href, next_label) =
            if self.chrome.me.is_some() { ("/home", "Back to Home") } else { ("/login", "Go to sign-in") };
        let page = MessagePage {
            heading: heading.into(),
            text: message(&self.error),
            chrome: self.chrome,
            next_href,
            next_label,
        };
        render(status, &page)
    }
}

async fn not_found(request: axum::extract::Request) -> Response {
    let (parts, _) = request.into_parts();
    if crate::error::is_api_path(parts.uri.path()) {
        return crate::error::ApiError::new(StatusCode::NOT_FOUND, "no_such_route", "There is no such API route.")
            .into_response();
    }
    let chrome = crate::session::current(&parts)
        .filter(|s| s.is_signed_in())
        .map_or_else(|| Chrome::anonymous(String::new()), Chrome::signed_in);
    PageError::new(Error::NotFound("There is no page at this address."), chrome).into_response()
}

/// A Unix time as people read it, in UTC.
pub fn when(unix: Option<i64>) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    unix.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "Never".into())
}
