//! Real relying parties against the real binary: the `openidconnect` crate (discovery, code
//! with PKCE, the ID token verified against the JWKS, userinfo, refresh rotation,
//! revocation, logout) on both databases and across two instances; and Debian's Apache with
//! `mod_auth_openidc`, driven in Chromium, for a person with 2FA and for one an application
//! requires to set it up first.

use std::process::Command;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse, TokenUrl, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use twofold_app::domain::otp::Secret;

use crate::support::apache::{Apache, RelyingParty};
use crate::support::api::{code_at, create_account, enable_by_api, invite};
use crate::support::browser::Browser;
use crate::support::server::{Server, binary};
use crate::support::{PASSWORD, PHONE, TestDb, url_encode};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const LOGGED_OUT: &str = "http://127.0.0.1:9/signed-out";

/// Twofold's own claims, beside the standard ones.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct TwofoldClaims {
    account: serde_json::Value,
    role: String,
}
impl AdditionalClaims for TwofoldClaims {}

/// `twofold oidc client add …` against a server's database; answers (client_id, secret).
fn add_client(db_args: &[&str], env: &[(&str, &str)], extra: &[&str]) -> (String, Option<String>) {
    let out = Command::new(binary())
        .args(db_args)
        .args(["oidc", "client", "add"])
        .args(extra)
        .envs(env.iter().copied())
        .env_remove("TWOFOLD_DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let field = |name: &str| stdout.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned());
    (field("client_id:").expect("a client_id"), field("client_secret:"))
}

/// The relying party's HTTP client: ours (reqwest 0.13), never following redirects.
async fn rp_send(request: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, std::io::Error> {
    twofold_channels::install_crypto_provider();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(std::io::Error::other)?;
    let (parts, body) = request.into_parts();
    let mut outgoing = client.request(parts.method, parts.uri.to_string()).body(body);
    for (name, value) in &parts.headers {
        outgoing = outgoing.header(name, value);
    }
    let response = outgoing.send().await.map_err(std::io::Error::other)?;
    let mut builder = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response.bytes().await.map_err(std::io::Error::other)?.to_vec();
    builder.body(body).map_err(std::io::Error::other)
}

/// A browser-like session at Twofold: cookies kept, redirects not followed.
fn browser_client() -> reqwest::Client {
    twofold_channels::install_crypto_provider();
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn sign_in(client: &reqwest::Client, base: &str, email: &str, secret: &Secret) {
    let r =
        client.post(format!("{base}/api/v1/login")).json(&serde_json::json!({ "email": email, "password": PASSWORD }));
    let body: serde_json::Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(body["status"], "second_factor_required", "{body}");
    let csrf = body["csrf_token"].as_str().unwrap();
    let r = client
        .post(format!("{base}/api/v1/login/totp"))
        .header("x-csrf-token", csrf)
        .json(&serde_json::json!({ "code": code_at(secret, 30) }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn openidconnect_journey(db: TestDb) {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    let key = format!("1:{}", data_encoding::BASE64.encode(&key));
    let env = [("TWOFOLD_SECRET_KEY", key.as_str())];
    let db_args = ["--database-url", db.url.as_str()];
    let a = Server::start(&db_args, &env).await;
    create_account(&a).await;
    let secret = enable_by_api(&a, "ada@acme.test", PHONE).await;
    let (client_id, client_secret) = add_client(
        &db_args,
        &env,
        &["--name", "Reports", "--redirect-uri", REDIRECT, "--post-logout-redirect-uri", LOGGED_OUT],
    );
    // A second instance on the same database and keys, behind the same public URL.
    let public = ["--database-url", db.url.as_str(), "--public-url", a.base.as_str()];
    let b = Server::start(&public, &env).await;

    let send = |r| rp_send(r);
    let issuer = IssuerUrl::new(a.base.clone()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &send).await.unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.clone()),
        Some(ClientSecret::new(client_secret.clone().unwrap())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());

    // The code: asked of instance A by a signed-in browser.
    let browser = browser_client();
    sign_in(&browser, &a.base, "ada@acme.test", &secret).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let r = browser.get(url.as_str()).send().await.unwrap();
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT), "{location}");
    let param = |name: &str| location.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(param("state").as_deref(), Some(state.secret().as_str()));
    assert_eq!(param("iss").as_deref(), Some(a.base.as_str()));
    let code = AuthorizationCode::new(param("code").unwrap());

    // Redeemed at instance B: a code issued by one instance is good at any.
    let at_b = client.clone().set_token_uri(TokenUrl::new(format!("{}/oauth2/token", b.base)).unwrap());
    let tokens = at_b.exchange_code(code.clone()).set_pkce_verifier(verifier).request_async(&send).await.unwrap();
    let verifier = client.id_token_verifier().set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token.claims(&verifier, &nonce).expect("the ID token verifies against the JWKS");
    assert_eq!(claims.email().map(|e| e.as_str()), Some("ada@acme.test"));
    let amr: Vec<String> = claims.auth_method_refs().unwrap().iter().map(|a| a.as_str().to_owned()).collect();
    assert_eq!(amr, ["pwd", "otp", "mfa"]);
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some("urn:twofold:acr:2fa"));
    assert!(claims.auth_time().is_some());
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token.signing_alg().unwrap();
        let key = id_token.signing_key(&verifier).unwrap();
        assert_eq!(&AccessTokenHash::from_token(tokens.access_token(), alg, key).unwrap(), expected);
    }
    // The replayed code fails (on A this time).
    assert!(client.exchange_code(code).unwrap().request_async(&send).await.is_err(), "a code works once");
    // The replay revoked the first redemption's tokens (SEC-40): start again.
    let (challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let code = code_from(&browser, &url).await;
    let tokens =
        client.exchange_code(code).unwrap().set_pkce_verifier(pkce_verifier).request_async(&send).await.unwrap();
    tokens.id_token().unwrap().claims(&verifier, &nonce).unwrap();

    // Userinfo, with Twofold's own claims.
    let info: UserInfoClaims<TwofoldClaims, CoreGenderClaim> =
        client.user_info(tokens.access_token().clone(), None).unwrap().request_async(&send).await.unwrap();
    assert_eq!(info.email().map(|e| e.as_str()), Some("ada@acme.test"));
    assert_eq!(info.additional_claims().role, "owner");
    assert_eq!(info.additional_claims().account["name"], "Acme");

    // Refresh at B rotates; the old refresh token at A is reuse and ends the family.
    let first = tokens.refresh_token().unwrap().clone();
    let refreshed = at_b.exchange_refresh_token(&first).request_async(&send).await.unwrap();
    let second = refreshed.refresh_token().unwrap().clone();
    assert_ne!(first.secret(), second.secret());
    assert!(client.exchange_refresh_token(&first).unwrap().request_async(&send).await.is_err(), "reuse");
    assert!(client.exchange_refresh_token(&second).unwrap().request_async(&send).await.is_err(), "the family ended");

    // A fresh grant, revoked (RFC 7009) at B: its refresh token stops working at A.
    let (challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, _) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let code = code_from(&browser, &url).await;
    let tokens =
        client.exchange_code(code).unwrap().set_pkce_verifier(pkce_verifier).request_async(&send).await.unwrap();
    let refresh = tokens.refresh_token().unwrap().clone();
    // (The crate refuses a revocation URL over plain http, so this request is written out.)
    let r = reqwest::Client::new()
        .post(format!("{}/oauth2/revoke", b.base))
        .basic_auth(&client_id, client_secret.as_deref())
        .form(&[("token", refresh.secret().as_str()), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(client.exchange_refresh_token(&refresh).unwrap().request_async(&send).await.is_err(), "revoked");

    // An RS256 application (`--id-token-alg RS256`): discovery offers RS256, its ID token
    // verifies against the JWKS's RSA key, and an ES256-only verifier refuses it.
    let (rs_id, rs_secret) =
        add_client(&db_args, &env, &["--name", "Legacy", "--redirect-uri", REDIRECT, "--id-token-alg", "RS256"]);
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(a.base.clone()).unwrap(), &send).await.unwrap();
    let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    assert!(metadata.id_token_signing_alg_values_supported().contains(&rs256));
    let rs_client =
        CoreClient::from_provider_metadata(metadata, ClientId::new(rs_id), Some(ClientSecret::new(rs_secret.unwrap())))
            .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = rs_client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let code = code_from(&browser, &url).await;
    let rs_tokens =
        rs_client.exchange_code(code).unwrap().set_pkce_verifier(pkce_verifier).request_async(&send).await.unwrap();
    let rs_token = rs_tokens.id_token().unwrap();
    assert_eq!(rs_token.signing_alg().unwrap(), &rs256);
    let rs_verifier = rs_client.id_token_verifier().set_allowed_algs(vec![rs256]);
    let claims = rs_token.claims(&rs_verifier, &nonce).expect("the RS256 ID token verifies against the JWKS");
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("ada@acme.test"));
    assert!(rs_token.claims(&verifier, &nonce).is_err(), "not an ES256 token");

    // RP-initiated logout with the ID token as the hint: the session ends on every instance.
    let hint = tokens.id_token().unwrap().to_string();
    let logout = format!(
        "{}/oauth2/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=bye",
        a.base,
        url_encode(LOGGED_OUT)
    );
    let page = browser.get(&logout).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("url={LOGGED_OUT}?state=bye")), "{page}");
    for base in [&a.base, &b.base] {
        let me = browser.get(format!("{base}/api/v1/me")).send().await.unwrap();
        assert_eq!(me.status(), 401, "signed out at {base}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openidconnect_client_signs_in_refreshes_revokes_and_logs_out_across_two_instances_sqlite() {
    openidconnect_journey(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openidconnect_client_signs_in_refreshes_revokes_and_logs_out_across_two_instances_postgres() {
    if let Some(db) = TestDb::postgres().await {
        openidconnect_journey(db).await;
    }
}

/// Follows an authorization URL with a signed-in browser; answers the code it comes back with.
async fn code_from(browser: &reqwest::Client, url: &url::Url) -> AuthorizationCode {
    let r = browser.get(url.as_str()).send().await.unwrap();
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned());
    AuthorizationCode::new(code.unwrap_or_else(|| panic!("no code: {location}")))
}

/// Waits until the browser lands on the Apache-protected page.
async fn protected_page(browser: &Browser, apache: &Apache) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !browser.url().await.starts_with(&apache.protected_url()) {
        assert!(
            std::time::Instant::now() < deadline,
            "never reached the protected page: {}\n{}",
            browser.url().await,
            apache.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// SEC-41 in a real browser through a real relying party: Ada (with 2FA) signs in to an
/// Apache-protected page with her password and code and sees her email from the claims,
/// then signs out through it; Pat (without 2FA) reaches a `--require-two-factor`
/// application only after the wizard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_41_mod_auth_openidc_signs_people_in_through_chromium_and_requires_two_factor_where_asked() {
    let Some(browser) = Browser::start().await else { return };
    let server = Server::start(&[], &[]).await;
    let owner = create_account(&server).await;
    invite(&server, &owner, "pat@acme.test", "user").await;
    let secret = enable_by_api(&server, "ada@acme.test", PHONE).await;
    let data_dir = server.data_dir().display().to_string();
    let db_args = ["--data-dir", data_dir.as_str()];

    if !Apache::available() {
        return;
    }
    // Ada, 2FA on, at an application that does not insist.
    let apache = start_apache(&server, &db_args, false).await;
    browser.goto(&apache.protected_url()).await;
    browser.wait_for_path("/login").await;
    assert!(browser.text("#signing-in-to").await.contains("Wiki"), "the page names the application");
    browser.fill("#email", "ada@acme.test").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#login-form button[type=submit]").await;
    browser.wait_for_path("/login/code").await;
    browser.fill("#code", &code_at(&secret, 30)).await;
    browser.click("#code-form button[type=submit]").await;
    protected_page(&browser, &apache).await;
    assert_eq!(browser.text("#email").await, "ada@acme.test", "{}", apache.log());
    assert!(browser.text("#amr").await.contains("otp"), "{}", browser.text("body").await);
    // Signing out of the application ends the Twofold session and comes back to it.
    browser.click("#logout").await;
    browser.wait_for_path("/bye.html").await;
    assert!(browser.text("body").await.contains("Signed out of the protected app"));
    browser.goto(&format!("{}/home", server.base)).await;
    browser.wait_for_path("/login").await;

    // Pat, no 2FA, at an application that requires it: the wizard first, then the page.
    let strict = start_apache(&server, &db_args, true).await;
    browser.goto(&strict.protected_url()).await;
    browser.wait_for_path("/login").await;
    browser.fill("#email", "pat@acme.test").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#login-form button[type=submit]").await;
    browser.wait_for_path("/me/two-factor/enable").await;
    browser.click("#enable-2fa").await;
    browser.click("#wizard-next").await;
    let key = Secret::from_base32(&browser.text("#secret-key").await).unwrap();
    browser.click("#wizard-next").await;
    browser.fill("#code", &code_at(&key, 0)).await;
    browser.click("#wizard-next").await;
    browser.wait_for_path("/me/two-factor/enable/phone").await;
    let before =
        std::fs::read_to_string(server.data_dir().join("sms-outbox.jsonl")).unwrap_or_default().lines().count();
    browser.fill("#phone", "+353 85 765 4321").await;
    browser.click("#wizard-next").await;
    let sms = server.sms_code_to("+353857654321", before).await;
    browser.fill("#code", &sms).await;
    browser.click("#wizard-next").await;
    browser.click("#codes-saved").await;
    protected_page(&browser, &strict).await;
    assert_eq!(browser.text("#email").await, "pat@acme.test", "{}", strict.log());
    assert!(browser.text("#amr").await.contains("otp"));
    browser.close().await;
}

/// Apache in front of a page, with a client registered for it by the command line.
async fn start_apache(server: &Server, db_args: &[&str], require_two_factor: bool) -> Apache {
    let port = crate::support::server::free_port();
    let (redirect, bye) = (Apache::redirect_uri_at(port), Apache::post_logout_uri_at(port));
    let mut args = vec!["--name", "Wiki", "--redirect-uri", &redirect, "--post-logout-redirect-uri", &bye];
    if require_two_factor {
        args.push("--require-two-factor");
    }
    let (id, secret) = add_client(db_args, &[], &args);
    let rp = RelyingParty { issuer: &server.base, client_id: &id, client_secret: secret.as_deref().unwrap() };
    Apache::start_at(&rp, port).await.unwrap()
}

/// The Authlib example of docs/oidc.md, run as an integrator would: it prints the URL, a
/// signed-in browser follows it, and the script verifies the ID token and reads userinfo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authlib_script_of_the_integrator_docs_signs_in_against_the_real_server() {
    let python = "/usr/bin/python3";
    let has_authlib = Command::new(python).args(["-c", "import authlib, requests"]).status().is_ok_and(|s| s.success());
    if !has_authlib {
        crate::support::skip("the Authlib example", "python3-authlib or python3-requests is not installed");
        return;
    }
    let server = Server::start(&[], &[]).await;
    create_account(&server).await;
    let secret = enable_by_api(&server, "ada@acme.test", PHONE).await;
    let port = crate::support::server::free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let data_dir = server.data_dir().display().to_string();
    // An application registered for RS256, the algorithm libraries assume (issue 33).
    let (id, client_secret) = add_client(
        &["--data-dir", &data_dir],
        &[],
        &["--name", "Script", "--redirect-uri", &redirect, "--id-token-alg", "RS256"],
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/oidc_client.py");
    let mut child = Command::new(python)
        .args([
            script,
            server.base.as_str(),
            id.as_str(),
            client_secret.as_deref().unwrap(),
            "--port",
            &port.to_string(),
            "--timeout",
            "60",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next_line = |rx: &std::sync::mpsc::Receiver<String>| rx.recv_timeout(std::time::Duration::from_secs(60));
    let first = next_line(&rx).expect("the script prints the URL");
    let url = first.strip_prefix("Open this URL to sign in: ").unwrap_or_else(|| panic!("{first}"));
    let browser = browser_client();
    sign_in(&browser, &server.base, "ada@acme.test", &secret).await;
    let r = browser.get(url).send().await.unwrap();
    let back = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with(&redirect), "{back}");
    let landed = reqwest::Client::new().get(&back).send().await.unwrap();
    assert_eq!(landed.status(), 200);
    let line = next_line(&rx).expect("the script prints the claims");
    let out: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line}"));
    assert_eq!(out["id_token"]["email"], "ada@acme.test");
    assert_eq!(out["id_token_alg"], "RS256", "verified by Authlib against the JWKS's RSA key");
    assert_eq!(out["id_token"]["preferred_username"], "ada@acme.test");
    assert_eq!(out["id_token"]["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(out["userinfo"]["role"], "owner");
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
}
