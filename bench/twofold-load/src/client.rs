//! A bare HTTP/1.1 client: one keep-alive connection, reconnected after a failure.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Longest wait for one answer; a request that takes longer counts as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One request to send.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: &'static str,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub json: Option<String>,
    /// A form body (`application/x-www-form-urlencoded`), as OAuth's token endpoint takes.
    pub form: Option<String>,
    /// More request headers (a reverse proxy's description of the request).
    pub headers: &'static [(&'static str, &'static str)],
}

impl Call {
    pub fn get(path: &'static str) -> Call {
        Call { method: Method::GET, path, cookie: None, csrf: None, json: None, form: None, headers: &[] }
    }

    pub fn post_form(path: &'static str, form: String, headers: &'static [(&'static str, &'static str)]) -> Call {
        Call { method: Method::POST, path, cookie: None, csrf: None, json: None, form: Some(form), headers }
    }

    pub fn post_json(path: &'static str, json: String) -> Call {
        Call { method: Method::POST, path, cookie: None, csrf: None, json: Some(json), form: None, headers: &[] }
    }
}

pub struct Connection {
    addr: SocketAddr,
    host: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    pub fn new(addr: SocketAddr) -> Connection {
        Connection { addr, host: addr.to_string(), sender: None }
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(self.addr).await.with_context(|| format!("connect {}", self.addr))?;
            stream.set_nodelay(true)?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        self.sender.as_mut().ok_or_else(|| anyhow!("no connection"))
    }

    /// Sends `call` and reads the whole answer: its status and body.
    pub async fn send(&mut self, call: &Call) -> Result<(u16, Bytes)> {
        let (status, body, _) = self.send_for_cookie(call).await?;
        Ok((status, body))
    }

    /// [`Connection::send`], also answering the first cookie the server set (`name=value`).
    pub async fn send_for_cookie(&mut self, call: &Call) -> Result<(u16, Bytes, Option<String>)> {
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(call)).await;
        match outcome {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(anyhow!("no answer within {REQUEST_TIMEOUT:?}"))
            }
        }
    }

    async fn exchange(&mut self, call: &Call) -> Result<(u16, Bytes, Option<String>)> {
        let mut request = Request::builder().method(call.method.clone()).uri(call.path).header("host", &self.host);
        if let Some(cookie) = &call.cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(csrf) = &call.csrf {
            request = request.header("x-csrf-token", csrf);
        }
        for (name, value) in call.headers {
            request = request.header(*name, *value);
        }
        let body = match (&call.json, &call.form) {
            (Some(json), _) => {
                request = request.header("content-type", "application/json");
                Full::new(Bytes::from(json.clone()))
            }
            (None, Some(form)) => {
                request = request.header("content-type", "application/x-www-form-urlencoded");
                Full::new(Bytes::from(form.clone()))
            }
            (None, None) => Full::new(Bytes::new()),
        };
        let request = request.body(body)?;
        let sender = self.connect().await?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body, cookie))
    }
}
