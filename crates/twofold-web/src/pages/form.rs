//! Form bodies that must carry the right CSRF token (SEC-25).
//!
//! Signed-in forms echo the session's token. Forms shown before sign-in (login, setup,
//! invitations) echo a random token also set as a `SameSite=Strict` cookie (double submit).

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;
use twofold_app::App;

use crate::session::{current, tokens_match};
use crate::{AppState, cookies};

/// A form whose `csrf_token` field has been checked.
pub struct CsrfForm<T>(pub T);

/// Implemented by every form body: where its CSRF field is.
pub trait HasCsrf {
    fn csrf_token(&self) -> &str;
}

/// The token a form on this request must carry, if any can be expected.
pub fn expected_token(parts: &Parts, app: &App) -> Option<String> {
    if let Some(session) = current(parts) {
        return Some(session.csrf_token.clone());
    }
    CookieJar::from_headers(&parts.headers).get(cookies::form_token_name(app)).map(|c| c.value().to_owned())
}

impl<T: DeserializeOwned + HasCsrf> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let expected = expected_token(&parts, &state.app);
        let req = Request::from_parts(parts, body);
        let form = match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(form)) => form,
            Err(rejection) => {
                return Err(refuse(
                    rejection.status(),
                    "The form could not be read. Go back, reload the page and try again.",
                ));
            }
        };
        match expected {
            Some(token) if tokens_match(form.csrf_token(), &token) => Ok(CsrfForm(form)),
            _ => Err(refuse(
                StatusCode::FORBIDDEN,
                "This form expired or did not come from this site. Go back, reload the page and try again.",
            )),
        }
    }
}

pub fn refuse(status: StatusCode, text: &'static str) -> Response {
    let page = super::MessagePage {
        chrome: super::Chrome::anonymous(String::new()),
        heading: "Form refused".into(),
        text: text.into(),
        next_href: "/",
        next_label: "Start again",
    };
    super::render(status, &page)
}

/// The token a form shown before sign-in must carry: the half-finished session's, when
/// the browser has one (the check prefers it, see [`expected_token`]), else a double-submit
/// token from the form cookie, minted if missing.
pub fn form_token(
    app: &App,
    jar: CookieJar,
    session: Option<&twofold_app::sign_in::CurrentSession>,
) -> (CookieJar, String) {
    match session {
        Some(s) => (jar, s.csrf_token.clone()),
        None => new_form_token(app, jar),
    }
}

/// A fresh random token for a form shown before sign-in, and the cookie that carries it.
pub fn new_form_token(app: &App, jar: CookieJar) -> (CookieJar, String) {
    if let Some(existing) = jar.get(cookies::form_token_name(app)).map(|c| c.value().to_owned()) {
        return (jar, existing);
    }
    let token = app.new_form_token();
    (jar.add(cookies::form_token(app, token.clone())), token)
}

/// Implements [`HasCsrf`] for form structs with a `csrf_token` field.
#[macro_export]
macro_rules! has_csrf {
    ($($form:ty),+ $(,)?) => {
        $(impl $crate::pages::form::HasCsrf for $form {
            fn csrf_token(&self) -> &str {
                &self.csrf_token
            }
        })+
    };
}

/// A form with nothing but its CSRF token (buttons that act).
#[derive(Debug, serde::Deserialize)]
pub struct PlainForm {
    #[serde(default)]
    pub csrf_token: String,
}

/// A confirmation with the person's password.
#[derive(Debug, serde::Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    pub csrf_token: String,
    #[serde(default)]
    pub password: String,
}

/// A one-time code typed by a person.
#[derive(Debug, serde::Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    pub csrf_token: String,
    #[serde(default)]
    pub code: String,
}

crate::has_csrf!(PlainForm, PasswordForm, CodeForm);
