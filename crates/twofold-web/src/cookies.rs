//! The cookies Twofold sets, with the attributes SEC-21 asks for.

use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use twofold_app::App;
use twofold_app::sign_in::NewSessionToken;

/// The session cookie's name: with the `__Host-` prefix under HTTPS, which pins it to
/// this host, path `/` and `Secure`. With a `cookie_domain` (forward auth: the protected
/// hosts must receive it) `__Host-` is impossible; `__Secure-` still demands `Secure`.
pub fn session_name(app: &App) -> &'static str {
    match (app.config().is_https(), app.config().cookie_domain.is_some()) {
        (true, false) => "__Host-twofold_session",
        (true, true) => "__Secure-twofold_session",
        (false, _) => "twofold_session",
    }
}

/// The anti-CSRF cookie of the forms shown before sign-in (double submit).
pub fn form_token_name(app: &App) -> &'static str {
    if app.config().is_https() { "__Host-twofold_form" } else { "twofold_form" }
}

fn base(app: &App, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(app.config().is_https())
        .build()
}

/// The remembered-device cookie ("Remember for 30 days").
pub fn device_name(app: &App) -> &'static str {
    if app.config().is_https() { "__Host-twofold_device" } else { "twofold_device" }
}

/// Lives as long as the server-side record (SEC-23), which is what really decides.
pub fn device(app: &App, token: String) -> Cookie<'static> {
    let mut cookie = base(app, device_name(app), token);
    cookie.set_max_age(time::Duration::days(app.config().remember_device_days));
    cookie
}

/// The known-browser cookie (SEC-44): this browser has signed in as a person before.
pub fn known_browser_name(app: &App) -> &'static str {
    if app.config().is_https() { "__Host-twofold_browser" } else { "twofold_browser" }
}

/// Kept as long as the token vouches: a year from the last right password.
pub fn known_browser(app: &App, token: String) -> Cookie<'static> {
    let mut cookie = base(app, known_browser_name(app), token);
    cookie.set_max_age(time::Duration::seconds(twofold_app::domain::known_browser::LIFETIME_SECONDS));
    cookie
}

/// What the password step reads from the browser's cookies: its remembered device and
/// its known-browser token.
pub fn password_step_cookies(app: &App, jar: &CookieJar) -> (Option<String>, Option<String>) {
    let value = |name: &str| jar.get(name).map(|c| c.value().to_owned());
    (value(device_name(app)), value(known_browser_name(app)))
}

/// Adds the cookies a password step hands out besides the session's.
pub fn add_password_step_cookies(app: &App, mut jar: CookieJar, new: &NewSessionToken) -> CookieJar {
    if let Some(token) = new.device_token.clone() {
        jar = jar.add(device(app, token));
    }
    if let Some(token) = new.known_browser.clone() {
        jar = jar.add(known_browser(app, token));
    }
    jar
}

pub fn session(app: &App, token: String) -> Cookie<'static> {
    with_domain(app, base(app, session_name(app), token))
}

/// The session cookie, on the parent domain when forward auth shares it.
fn with_domain(app: &App, mut cookie: Cookie<'static>) -> Cookie<'static> {
    if let Some(domain) = &app.config().cookie_domain {
        cookie.set_domain(domain.clone());
    }
    cookie
}

/// Tells the browser to forget the session cookie (on its domain, if it has one).
pub fn session_removal(app: &App) -> Cookie<'static> {
    let mut cookie = with_domain(app, base(app, session_name(app), String::new()));
    cookie.make_removal();
    cookie
}

pub fn form_token(app: &App, token: String) -> Cookie<'static> {
    let mut cookie = base(app, form_token_name(app), token);
    cookie.set_same_site(SameSite::Strict);
    cookie
}

/// A cookie that tells the browser to forget `name`.
pub fn removal(app: &App, name: &'static str) -> Cookie<'static> {
    let mut cookie = base(app, name, String::new());
    cookie.make_removal();
    cookie
}

/// The support operators' session cookie: a realm apart from customers' sessions.
pub fn operator_name(app: &App) -> &'static str {
    if app.config().is_https() { "__Host-twofold_support" } else { "twofold_support" }
}

pub fn operator(app: &App, token: String) -> Cookie<'static> {
    let mut cookie = base(app, operator_name(app), token);
    cookie.set_same_site(SameSite::Strict);
    cookie
}
