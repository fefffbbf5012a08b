//! Forward authentication for reverse proxies: Traefik's `forwardAuth` and Caddy's
//! `forward_auth` ask `forward-auth`, nginx's `auth_request` asks `auth-request`, for every
//! request of a protected application. The proxy describes the request in `X-Forwarded-*`
//! or `X-Original-*` headers; `Remote-*` headers a client sent are never read (SEC-43).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use twofold_app::domain::forward_auth::Refusal;
use twofold_app::forward_auth::{Gate, Identity};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::ErrorView;
use crate::error::ApiError;
use crate::{AppState, cookies};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(forward_auth)).routes(routes!(auth_request))
}

/// The request as the proxy described it.
struct Original {
    method: String,
    url: String,
    host: String,
    path: String,
}

/// The longest original URL we accept: browsers stop near 2 MB, proxies far earlier.
const MAX_URL: usize = 8 * 1024;

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

fn bad_request(what: &str) -> Response {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_forwarded_request",
        format!("The proxy did not describe the request: {what}."),
    )
    .into_response()
}

/// Traefik and Caddy: `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`.
fn from_forwarded(headers: &HeaderMap) -> Result<Original, &'static str> {
    let host = header_str(headers, "x-forwarded-host").ok_or("X-Forwarded-Host is missing")?;
    let proto = header_str(headers, "x-forwarded-proto").unwrap_or("https");
    if proto != "http" && proto != "https" {
        return Err("X-Forwarded-Proto must be http or https");
    }
    let uri = header_str(headers, "x-forwarded-uri").unwrap_or("/");
    if !uri.starts_with('/') {
        return Err("X-Forwarded-Uri must start with /");
    }
    let method = header_str(headers, "x-forwarded-method").unwrap_or("GET").to_ascii_uppercase();
    original(method, format!("{proto}://{host}{uri}"), host, uri)
}

/// nginx: `X-Original-URL` (`$scheme://$host:$server_port$request_uri`) and `X-Original-Method`.
fn from_original(headers: &HeaderMap) -> Result<Original, &'static str> {
    let url = header_str(headers, "x-original-url").ok_or("X-Original-URL is missing")?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("X-Original-URL must be an http(s) URL")?;
    let (host, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    let method = header_str(headers, "x-original-method").unwrap_or("GET").to_ascii_uppercase();
    original(method, url.to_owned(), host, path)
}

fn original(method: String, url: String, host: &str, path: &str) -> Result<Original, &'static str> {
    if url.len() > MAX_URL || host.is_empty() || host.contains(['@', '\\', ' ']) {
        return Err("the host or URL is not acceptable");
    }
    Ok(Original { method, url, host: host.to_owned(), path: path.to_owned() })
}

/// A person's browser asking for a page (not a script's fetch): worth a redirect.
fn is_browser_get(original: &Original, headers: &HeaderMap) -> bool {
    let accept = header_str(headers, "accept").unwrap_or("");
    matches!(original.method.as_str(), "GET" | "HEAD") && accept.contains("text/html")
}

/// The proxy's description read by `describe`, then the decision: or the answer already.
async fn decide(
    state: &AppState,
    jar: &CookieJar,
    headers: &HeaderMap,
    describe: fn(&HeaderMap) -> Result<Original, &'static str>,
) -> Result<(Original, Gate), Response> {
    let original = describe(headers).map_err(bad_request)?;
    let raw = jar.get(cookies::session_name(&state.app)).map(|c| c.value());
    let gate = state
        .app
        .forward_auth(raw, &original.host, &original.path)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let outcome = match &gate {
        Gate::Allow(_) => "allow",
        Gate::SignIn => "sign_in",
        Gate::SignInAgain => "sign_in_again",
        Gate::SetUpTwoFactor => "two_factor_required",
        Gate::Forbidden(_) => "forbidden",
    };
    metrics::counter!("twofold_forward_auth_decisions_total", "outcome" => outcome).increment(1);
    Ok((original, gate))
}

/// Where a person goes to sign in (or set up 2FA) and come back. A session weaker than
/// the rule asks signs in afresh over itself (`fresh=1`), as the OIDC provider does.
fn detour(state: &AppState, gate: &Gate, original: &Original) -> String {
    let rd = crate::percent::encode(&original.url);
    match gate {
        Gate::SetUpTwoFactor => state.app.url(&format!("/me/two-factor/enable?rd={rd}")),
        Gate::SignInAgain => state.app.url(&format!("/login?rd={rd}&fresh=1")),
        _ => state.app.url(&format!("/login?rd={rd}")),
    }
}

fn allowed(identity: &Identity) -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        // Names may hold any printable character, UTF-8 included; control characters never
        // get this far (they are refused when a name is set).
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("remote-user", &identity.email);
    set("remote-email", &identity.email);
    set("remote-name", &identity.name);
    // The role first, then the person's groups (names never hold a comma).
    let groups: Vec<&str> =
        std::iter::once(identity.role.as_str()).chain(identity.groups.iter().map(String::as_str)).collect();
    set("remote-groups", &groups.join(","));
    set("remote-account", &identity.account_id.to_string());
    response
}

fn refused(gate: &Gate) -> Response {
    match gate {
        Gate::SetUpTwoFactor => ApiError::new(
            StatusCode::FORBIDDEN,
            "two_factor_required",
            "This application requires two-factor authentication: turn it on first.",
        )
        .into_response(),
        Gate::Forbidden(why) => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("You may not use this application ({}).", why.as_str()),
        )
        .into_response(),
        _ => ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "Sign in first.").into_response(),
    }
}

/// The refusal as a person reads it, where the proxy shows Twofold's answer (Caddy,
/// Traefik): which application, why, and a way on.
#[derive(Template)]
#[template(path = "forward_refused.html")]
struct RefusedPage {
    host: String,
    reason: &'static str,
    advice: &'static str,
    code: &'static str,
    home: String,
    switch: String,
}

fn refused_page(state: &AppState, gate: &Gate, original: &Original) -> Option<Response> {
    let (code, reason, advice) = match gate {
        Gate::SetUpTwoFactor => (
            "two_factor_required",
            "This application asks for two-factor authentication, and your account has none yet.",
            "Turn it on from your profile in Twofold, then open the application again.",
        ),
        Gate::Forbidden(Refusal::Role) => (
            "forbidden",
            "This application is open to other roles in your account than yours.",
            "If you need it, ask your account's Owner or an Administrator.",
        ),
        Gate::Forbidden(Refusal::Account) => (
            "forbidden",
            "This application is for the people of another account.",
            "If you have an account there too, sign in as that person.",
        ),
        Gate::Forbidden(Refusal::Group) => (
            "forbidden",
            "This application is open to some groups of your account, and you are in none of them.",
            "If you need it, ask your account's Owner or an Administrator to add you.",
        ),
        Gate::Forbidden(Refusal::NoRule) => (
            "forbidden",
            "Twofold has no rule that lets anyone into this address.",
            "If you expected to use it, tell whoever runs it: the address may be mistyped or not set up yet.",
        ),
        Gate::Forbidden(Refusal::AmbiguousPath) => (
            "forbidden",
            "The address could be read in more than one way (a dot segment, an encoded slash or \
             similar), so it is refused for everyone.",
            "Check the link, or open the application from its start page.",
        ),
        _ => return None,
    };
    let page = RefusedPage {
        host: original.host.clone(),
        reason,
        advice,
        code,
        home: state.app.url("/home"),
        switch: state.app.url(&format!("/logout?rd={}", crate::percent::encode(&original.url))),
    };
    let mut response = crate::pages::render(StatusCode::FORBIDDEN, &page);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(response)
}

/// A person's browser asking for any page (`Accept: text/html`), whatever the method.
fn wants_html(headers: &HeaderMap) -> bool {
    header_str(headers, "accept").is_some_and(|a| a.contains("text/html"))
}

fn with_location(mut response: Response, location: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// For Traefik `forwardAuth` and Caddy `forward_auth`: 200 with the identity headers; a
/// browser GET that must sign in is redirected (302) to the login page and back; other
/// requests get 401; a rule that refuses, 403: a readable page for a browser (`Accept:
/// text/html`), the JSON error for anything else.
#[utoipa::path(get, path = "/api/v1/authz/forward-auth", tag = "forward-auth",
    params(
        ("X-Forwarded-Host" = String, Header, description = "The protected host"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "Path and query of the original request"),
        ("X-Forwarded-Proto" = Option<String>, Header, description = "`http` or `https`"),
        ("X-Forwarded-Method" = Option<String>, Header, description = "The original method"),
    ),
    responses(
        (status = 200, description = "Allowed: `Remote-User`, `Remote-Email`, `Remote-Name`, `Remote-Groups`, `Remote-Account`"),
        (status = 302, description = "A browser that must sign in (or set up 2FA) first: `Location` is Twofold's page, with `rd`"),
        (status = 400, description = "`invalid_forwarded_request`", body = ErrorView),
        (status = 401, description = "`unauthenticated`", body = ErrorView),
        (status = 403, description = "`forbidden` or `two_factor_required`: an HTML page naming the application and the reason for `Accept: text/html`", body = ErrorView),
    ))]
async fn forward_auth(State(state): State<AppState>, jar: CookieJar, headers: HeaderMap) -> Response {
    let (original, gate) = match decide(&state, &jar, &headers, from_forwarded).await {
        Ok(decided) => decided,
        Err(answer) => return answer,
    };
    match &gate {
        Gate::Allow(identity) => allowed(identity),
        Gate::SignIn | Gate::SignInAgain | Gate::SetUpTwoFactor if is_browser_get(&original, &headers) => {
            with_location(StatusCode::FOUND.into_response(), &detour(&state, &gate, &original))
        }
        // Caddy and Traefik show this answer to the person: a page for a browser.
        other if wants_html(&headers) => refused_page(&state, other, &original).unwrap_or_else(|| refused(other)),
        other => refused(other),
    }
}

/// For nginx `auth_request`, which passes on only 2xx, 401 and 403: 200 with the identity
/// headers; 401 with `Location` (the login page, or the 2FA wizard, with `rd`) for nginx to
/// redirect to; 403 when a rule refuses.
#[utoipa::path(get, path = "/api/v1/authz/auth-request", tag = "forward-auth",
    params(
        ("X-Original-URL" = String, Header, description = "The original URL: `$scheme://$host:$server_port$request_uri`"),
        ("X-Original-Method" = Option<String>, Header, description = "The original method"),
    ),
    responses(
        (status = 200, description = "Allowed: `Remote-User`, `Remote-Email`, `Remote-Name`, `Remote-Groups`, `Remote-Account`"),
        (status = 400, description = "`invalid_forwarded_request`", body = ErrorView),
        (status = 401, description = "`unauthenticated`, or `two_factor_required`; `Location` says where to send the browser", body = ErrorView),
        (status = 403, description = "`forbidden`", body = ErrorView),
    ))]
async fn auth_request(State(state): State<AppState>, jar: CookieJar, headers: HeaderMap) -> Response {
    let (original, gate) = match decide(&state, &jar, &headers, from_original).await {
        Ok(decided) => decided,
        Err(answer) => return answer,
    };
    match &gate {
        Gate::Allow(identity) => allowed(identity),
        Gate::SignIn | Gate::SignInAgain | Gate::SetUpTwoFactor => {
            let mut response = refused(&Gate::SignIn);
            if matches!(gate, Gate::SetUpTwoFactor) {
                response = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "two_factor_required",
                    "Turn on two-factor authentication first.",
                )
                .into_response();
            }
            with_location(response, &detour(&state, &gate, &original))
        }
        other => refused(other),
    }
}
