//! An HTTP client over the real router (no socket), keeping cookies like a browser.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, header};
use tower::ServiceExt;

pub struct Http {
    router: Router,
    cookies: Mutex<BTreeMap<String, String>>,
    csrf: Mutex<Option<String>>,
    user_agent: Mutex<String>,
}

pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The `code` of a JSON error answer.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_string()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    }

    /// The value of the `csrf_token` field of the first form on the page.
    pub fn form_csrf(&self) -> String {
        let html = self.text();
        let start = html.find("name=\"csrf_token\" value=\"").expect("no csrf_token field") + 25;
        html[start..].split('"').next().unwrap().to_string()
    }
}

impl Http {
    pub fn new(router: Router) -> Self {
        Self {
            router,
            cookies: Mutex::default(),
            csrf: Mutex::default(),
            user_agent: Mutex::new("twofold-tests".into()),
        }
    }

    /// The CSRF token this client echoes, to hand to another client of the same session.
    pub fn csrf(&self) -> String {
        self.csrf.lock().unwrap().clone().unwrap_or_default()
    }

    pub fn set_csrf(&self, token: &str) {
        *self.csrf.lock().unwrap() = Some(token.to_string());
    }

    pub fn set_user_agent(&self, ua: &str) {
        *self.user_agent.lock().unwrap() = ua.to_string();
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies.lock().unwrap().insert(name.into(), value.into());
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None, Body::empty(), &[]).await
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Response {
        self.send(Method::POST, path, Some("application/json"), Body::from(body.to_string()), &[]).await
    }

    pub async fn put_json(&self, path: &str, body: &serde_json::Value) -> Response {
        self.send(Method::PUT, path, Some("application/json"), Body::from(body.to_string()), &[]).await
    }

    pub async fn patch_json(&self, path: &str, body: &serde_json::Value) -> Response {
        self.send(Method::PATCH, path, Some("application/json"), Body::from(body.to_string()), &[]).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<Body>,
        extra: &[(&str, &str)],
    ) -> Response {
        self.send(Method::POST, path, Some(content_type), body.into(), extra).await
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body = serde_urlencoded(fields);
        self.send(Method::POST, path, Some("application/x-www-form-urlencoded"), Body::from(body), &[]).await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Body,
        extra: &[(&str, &str)],
    ) -> Response {
        let mut request = Request::builder().method(method.clone()).uri(path).header(header::HOST, "127.0.0.1:8080");
        request = request.header(header::USER_AGENT, self.user_agent.lock().unwrap().clone());
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        let cookie_header =
            self.cookies.lock().unwrap().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        if !cookie_header.is_empty() {
            request = request.header(header::COOKIE, cookie_header);
        }
        if method != Method::GET
            && let Some(token) = self.csrf.lock().unwrap().clone()
        {
            request = request.header("x-csrf-token", token);
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let response = self.router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec();
        let response = Response { status, headers, body };
        self.keep_cookies(&response);
        response
    }

    fn keep_cookies(&self, response: &Response) {
        let mut jar = self.cookies.lock().unwrap();
        for set in response.set_cookies() {
            let pair = set.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let expired = set.to_ascii_lowercase().contains("max-age=0") || value.is_empty();
            if expired {
                jar.remove(name);
            } else {
                jar.insert(name.to_string(), value.to_string());
            }
        }
    }
}

fn serde_urlencoded(fields: &[(&str, &str)]) -> String {
    fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
