//! The OpenID Provider through the router, as a relying party and an attacker see it:
//! discovery, the code flow through Twofold's own sign-in, tokens, refresh rotation,
//! revocation, logout, and every attack the issue names (SEC-40, SEC-41, SEC-42). Real
//! relying parties (the `openidconnect` crate, Apache's mod_auth_openidc in Chromium) are
//! in `oidc_relying_parties.rs`.

use axum::body::Body;
use axum::http::Method;
use data_encoding::{BASE64, BASE64URL_NOPAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use twofold_app::RequestContext;
use twofold_app::domain::Role;
use twofold_app::domain::oidc::jws::{self, Alg, PublicKey};
use twofold_app::domain::otp::Secret;
use twofold_app::oidc::clients::{CreatedApp, NewApp};

use crate::support::http::{Http, Response};
use crate::support::{PASSWORD, TestApp, TestDb, url_encode};

on_both_databases!(
    the_groups_claim_names_the_persons_groups_under_the_groups_scope,
    discovery_names_every_endpoint_and_the_jwks_publishes_an_es256_and_an_rs256_key,
    sec_40_sec_41_a_code_is_redeemed_once_for_a_signed_id_token_and_working_tokens,
    sec_40_redirect_uris_must_match_exactly_and_faults_are_never_redirected_there,
    sec_40_a_public_client_needs_pkce_and_a_wrong_or_missing_verifier_burns_the_code,
    sec_40_a_replayed_code_fails_and_revokes_what_the_first_redemption_issued,
    sec_40_of_fifty_concurrent_redemptions_on_two_instances_one_wins,
    sec_40_a_code_of_another_client_an_expired_code_and_a_wrong_secret_are_refused,
    sec_42_refresh_tokens_rotate_and_a_reused_one_revokes_the_family,
    sec_42_two_factor_off_a_password_change_and_sign_out_everywhere_revoke_refresh_tokens,
    sec_41_an_account_scoped_client_never_gets_another_accounts_person,
    sec_41_a_two_factor_client_never_gets_a_token_for_a_password_only_session,
    sec_41_signing_keys_rotate_with_an_overlap,
    preferred_username_is_the_address_and_only_the_mailed_invitation_link_proves_it,
    prompt_none_prompt_login_and_max_age_behave_as_the_standard_says,
    malformed_or_hostile_parameters_get_oauth_errors_never_a_500,
    rp_initiated_logout_ends_the_session_and_returns_only_to_a_registered_uri,
    owners_manage_their_accounts_apps_through_the_api,
    the_apps_tab_registers_an_app_and_shows_its_secret_once,
    a_person_signs_in_through_the_pages_and_the_login_page_names_the_application,
    the_overview_counts_sign_ins_per_application_not_refreshes,
);

const REDIRECT: &str = "https://app.example.test/cb";
const LOGGED_OUT: &str = "https://app.example.test/bye";

/// A registered application for every account of the instance (`twofold oidc client add`).
async fn register(t: &TestApp, public: bool, require_two_factor: bool, owner: Option<&str>) -> CreatedApp {
    let new = NewApp {
        name: "Wiki".into(),
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![LOGGED_OUT.into()],
        public,
        require_two_factor,
        ..NewApp::default()
    };
    t.app.add_instance_app(&new, owner).await.unwrap()
}

/// An instance-wide confidential application whose ID tokens are signed with `alg`.
async fn register_signed_with(t: &TestApp, alg: Alg) -> CreatedApp {
    let new = NewApp {
        name: format!("Wiki {alg}"),
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![LOGGED_OUT.into()],
        id_token_alg: alg,
        ..NewApp::default()
    };
    t.app.add_instance_app(&new, None).await.unwrap()
}

/// A PKCE pair: (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap();
    let verifier = BASE64URL_NOPAD.encode(&bytes);
    let challenge = BASE64URL_NOPAD.encode(&Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn query(params: &[(&str, &str)]) -> String {
    params.iter().map(|(k, v)| format!("{k}={}", url_encode(v))).collect::<Vec<_>>().join("&")
}

/// The authorization request a relying party sends, with `extra` parameters added.
fn authorize_path(client_id: &str, challenge: Option<&str>, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid email profile offline_access"),
        ("state", "st-1"),
        ("nonce", "n-1"),
    ];
    if let Some(c) = challenge {
        params.push(("code_challenge", c));
        params.push(("code_challenge_method", "S256"));
    }
    params.extend_from_slice(extra);
    format!("/oauth2/authorize?{}", query(&params))
}

/// The query parameters of a redirect's `Location`.
fn location_params(r: &Response) -> Vec<(String, String)> {
    let location = r.header("location").unwrap_or_else(|| panic!("no redirect ({}): {}", r.status, r.text()));
    let url =
        url::Url::parse(&location).unwrap_or_else(|_| url::Url::parse("http://x").unwrap().join(&location).unwrap());
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// Authorizes on `http` (signed in) and answers the code.
async fn code_for(http: &Http, client_id: &str, challenge: Option<&str>) -> String {
    let r = http.get(&authorize_path(client_id, challenge, &[])).await;
    assert_eq!(r.status, 303, "{:?} {}", r.header("location"), r.text());
    let params = location_params(&r);
    assert!(r.header("location").unwrap().starts_with(REDIRECT), "{:?}", r.header("location"));
    assert_eq!(param(&params, "state").as_deref(), Some("st-1"), "state comes back unchanged (SEC-40)");
    param(&params, "code").unwrap_or_else(|| panic!("no code: {params:?}"))
}

fn basic(client: &CreatedApp) -> String {
    let secret = client.client_secret.as_deref().unwrap_or_default();
    format!("Basic {}", BASE64.encode(format!("{}:{secret}", client.client.client_id).as_bytes()))
}

/// POSTs a token-endpoint form, authenticating confidential clients with Basic.
async fn token(http: &Http, client: &CreatedApp, fields: &[(&str, &str)]) -> Response {
    let mut fields = fields.to_vec();
    let auth = basic(client);
    let mut headers = vec![];
    if client.client_secret.is_some() {
        headers.push(("authorization", auth.as_str()));
    } else {
        fields.push(("client_id", &client.client.client_id));
    }
    http.post_raw("/oauth2/token", "application/x-www-form-urlencoded", query(&fields), &headers).await
}

async fn redeem(http: &Http, client: &CreatedApp, code: &str, verifier: Option<&str>) -> Response {
    let mut fields = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT)];
    if let Some(v) = verifier {
        fields.push(("code_verifier", v));
    }
    token(http, client, &fields).await
}

async fn refresh(http: &Http, client: &CreatedApp, refresh_token: &str) -> Response {
    token(http, client, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
}

async fn userinfo(http: &Http, access_token: &str) -> Response {
    let bearer = format!("Bearer {access_token}");
    http.send(Method::GET, "/oauth2/userinfo", None, Body::empty(), &[("authorization", &bearer)]).await
}

async fn published_keys(http: &Http) -> Vec<PublicKey> {
    let jwks = http.get("/oauth2/jwks").await.json();
    jwks["keys"].as_array().unwrap().iter().map(|k| PublicKey::from_jwk(k).unwrap()).collect()
}

/// Verifies an ID token against the JWKS and answers its claims.
async fn verified_claims(http: &Http, id_token: &str) -> serde_json::Map<String, Value> {
    jws::verify(id_token, &published_keys(http).await).unwrap()
}

fn oauth_error(r: &Response) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_owned()
}

/// The Owner of acme with 2FA, signed in with password and code: (session, key).
async fn owner_with_two_factor(t: &TestApp) -> (Http, Secret) {
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let secret = t.enable_two_factor(&http).await;
    (t.signed_in_with_code("owner@acme.test", &secret).await, secret)
}

async fn discovery_names_every_endpoint_and_the_jwks_publishes_an_es256_and_an_rs256_key(db: TestDb) {
    let t = TestApp::new(db).await;
    let http = t.http();
    let r = http.get("/.well-known/openid-configuration").await;
    assert_eq!(r.status, 200);
    let d = r.json();
    let iss = "http://127.0.0.1:8080";
    assert_eq!(d["issuer"], iss);
    for (field, path) in [
        ("authorization_endpoint", "/oauth2/authorize"),
        ("token_endpoint", "/oauth2/token"),
        ("userinfo_endpoint", "/oauth2/userinfo"),
        ("jwks_uri", "/oauth2/jwks"),
        ("revocation_endpoint", "/oauth2/revoke"),
        ("end_session_endpoint", "/oauth2/logout"),
    ] {
        assert_eq!(d[field], format!("{iss}{path}"), "{field}");
    }
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    // OpenID Connect Discovery §3: RS256 must be among them.
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(["ES256", "RS256"]));
    assert!(d["claims_supported"].as_array().unwrap().contains(&json!("preferred_username")));
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(d["scopes_supported"], json!(["openid", "profile", "email", "groups", "offline_access"]));
    let r = http.get("/oauth2/jwks").await;
    assert_eq!(r.header("cache-control").as_deref(), Some("public, max-age=300"), "relying parties may cache it");
    let keys = r.json();
    let kinds: Vec<_> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kty"].as_str().unwrap().to_owned(), k["alg"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.contains(&("EC".into(), "ES256".into())) && kinds.contains(&("RSA".into(), "RS256".into())));
    for key in keys["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "never the private part ({private})");
        }
    }
    let rsa = keys["keys"].as_array().unwrap().iter().find(|k| k["kty"] == "RSA").unwrap();
    let modulus = BASE64URL_NOPAD.decode(rsa["n"].as_str().unwrap().as_bytes()).unwrap();
    assert!(modulus.len() * 8 >= 2048, "an RSA key of {} bits", modulus.len() * 8);
    // The private halves are sealed at rest (SEC-41, SEC-10): an RSA key's DER is not
    // there in the clear, and the EC key is more than its raw 32 bytes.
    let mut conn = t.app.store().conn().await.unwrap();
    let rows = twofold_store::oidc::keys::all(&mut conn).await.unwrap();
    assert_eq!(rows.len(), 2, "one key per algorithm, created once");
    for row in &rows {
        assert!(row.secret_box.len() > 32 + 16, "sealed: nonce, ciphertext and tag");
        assert!(!row.secret_box.windows(modulus.len().min(64)).any(|w| w == &modulus[..64]));
    }
    // A second look publishes the same keys.
    assert_eq!(http.get("/oauth2/jwks").await.json(), keys);
}

async fn sec_40_sec_41_a_code_is_redeemed_once_for_a_signed_id_token_and_working_tokens(db: TestDb) {
    let t = TestApp::new(db).await;
    let client = register(&t, false, false, None).await;
    let (http, _) = owner_with_two_factor(&t).await;
    let (verifier, challenge) = pkce();
    let code = code_for(&http, &client.client.client_id, Some(&challenge)).await;
    let rp = t.http();
    let r = redeem(&rp, &client, &code, Some(&verifier)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let tokens = r.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].is_string(), "offline_access asked for");
    let claims = verified_claims(&rp, tokens["id_token"].as_str().unwrap()).await;
    let owner = t.user("owner@acme.test").await;
    assert_eq!(claims["iss"], "http://127.0.0.1:8080");
    assert_eq!(claims["aud"], client.client.client_id.as_str());
    assert_eq!(claims["sub"], owner.id.to_string());
    assert_eq!(claims["nonce"], "n-1", "the nonce comes back unchanged");
    assert_eq!(claims["email"], "owner@acme.test");
    assert_eq!(claims["email_verified"], false, "created without a mailed link: not proven");
    assert_eq!(claims["name"], "Olive Owner");
    assert_eq!(claims["preferred_username"], "owner@acme.test", "scope profile: the address");
    assert_eq!(claims["role"], "owner");
    assert_eq!(claims["account"], json!({ "id": owner.account_id.to_string(), "name": "acme" }));
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]), "the factors this session used");
    assert_eq!(claims["acr"], "urn:twofold:acr:2fa");
    let now = t.app.now();
    assert_eq!(claims["iat"], now);
    assert!(claims["exp"].as_i64().unwrap() > now);
    assert!(claims["auth_time"].as_i64().unwrap() <= now);
    // Userinfo says the same.
    let info = userinfo(&rp, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info.status, 200, "{}", info.text());
    assert_eq!(info.json()["email"], "owner@acme.test");
    assert_eq!(info.json()["sub"], owner.id.to_string());
    assert_eq!(userinfo(&rp, "not-a-token").await.status, 401);
    // Everything audited, in the person's account.
    let events: Vec<String> = t.events(owner.account_id).await.into_iter().map(|e| e.0).collect();
    assert!(events.contains(&"oidc.code_issued".to_string()), "{events:?}");
    assert!(events.contains(&"oidc.token_issued".to_string()), "{events:?}");
    // The code is stored hashed: its text is nowhere in the table.
    let mut conn = t.app.store().conn().await.unwrap();
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT code_hash FROM oidc_codes").fetch_all(&mut *conn).await.unwrap();
    assert!(!stored.contains(&code));
}

async fn sec_40_redirect_uris_must_match_exactly_and_faults_are_never_redirected_there(db: TestDb) {
    let t = TestApp::new(db).await;
    let client = register(&t, false, false, None).await;
    let (http, _) = owner_with_two_factor(&t).await;
    let id = client.client.client_id.as_str();
    for evil in [
        "https://app.example.test/cb/../evil",
        "https://app.example.test/cb2",
        "https://app.example.test/c",
        "https://app.example.test/cb?x=1",
        "https://evil.test/cb",
        "",
    ] {
        let path = format!(
            "/oauth2/authorize?{}",
            query(&[("response_type", "code"), ("client_id", id), ("redirect_uri", evil), ("scope", "openid")])
        );
        let r = http.get(&path).await;
        assert_eq!(r.status, 400, "{evil}");
        assert!(r.header("location").is_none(), "never redirected to an unregistered URI");
        assert!(r.text().contains("has not registered"), "{}", r.text());
    }
    let r = http.get(&authorize_path("no-such-client", None, &[])).await;
    assert_eq!((r.status, r.header("location")), (400, None));
    // With the registered URI, other faults go back to it as OAuth errors, with state.
    let token_flow = authorize_path(id, None, &[]).replace("response_type=code", "response_type=token");
    let r = http.get(&token_flow).await;
    let p = location_params(&r);
    assert_eq!(param(&p, "error").as_deref(), Some("unsupported_response_type"));
    assert_eq!(param(&p, "state").as_deref(), Some("st-1"));
    // Redemption with a different redirect_uri than the request's fails.
    let code = code_for(&http, id, None).await;
    let r = token(
        &t.http(),
        &client,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", "https://app.example.test/cb/")],
    )
    .await;
    assert_eq!((r.status, oauth_error(&r).as_str()), (400, "invalid_grant"));
}

async fn sec_40_a_public_client_needs_pkce_and_a_wrong_or_missing_verifier_burns_the_code(db: TestDb) {
    let t = TestApp::new(db).await;
    let public = register(&t, true, false, None).await;
    assert!(public.client_secret.is_none());
    let (http, _) = owner_with_two_factor(&t).await;
    let id = public.client.client_id.as_str();
    let r = http.get(&authorize_path(id, None, &[])).await;
    let p = location_params(&r);
    assert_eq!(param(&p, "error").as_deref(), Some("invalid_request"), "PKCE required of public clients");
    let plain = [("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), ("code_challenge_method", "plain")];
    let r = http.get(&authorize_path(id, None, &plain)).await;
    assert_eq!(param(&location_params(&r), "error").as_deref(), Some("invalid_request"), "S256 only");
    let rp = t.http();
    // A wrong verifier: refused, and the code is spent.
    let (verifier, challenge) = pkce();
    let code = code_for(&http, id, Some(&challenge)).await;
    let (wrong, _) = pkce();
    let r = redeem(&rp, &public, &code, Some(&wrong)).await;
    assert_eq!((r.status, oauth_error(&r).as_str()), (400, "invalid_grant"));
    let r = redeem(&rp, &public, &code, Some(&verifier)).await;
    assert_eq!(oauth_error(&r), "invalid_grant", "one try per code");
    // A missing verifier.
    let (verifier, challenge) = pkce();
    let code = code_for(&http, id, Some(&challenge)).await;
    assert_eq!(oauth_error(&redeem(&rp, &public, &code, None).await), "invalid_grant");
    // A verifier sent where no challenge was: a downgrade, refused (confidential client).
    let confidential = register(&t, false, false, None).await;
    let code = code_for(&http, &confidential.client.client_id, None).await;
    assert_eq!(oauth_error(&redeem(&rp, &confidential, &code, Some(&verifier)).await), "invalid_grant");
    // The right one works.
    let (verifier, challenge) = pkce();
    let code = code_for(&http, id, Some(&challenge)).await;
    assert_eq!(redeem(&rp, &public, &code, Some(&verifier)).await.status, 200);
}

async fn sec_40_a_replayed_code_fails_and_revokes_what_the_first_redemption_issued(db: TestDb) {
    let t = TestApp::new(db).await;
    let client = register(&t, false, false, None).await;
    let (http, _) = owner_with_two_factor(&t).await;
    let code = code_for(&http, &client.client.client_id, None).await;
    let rp = t.http();
    let first = redeem(&rp, &client, &code, None).await.json();
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&rp, access).await.status, 200);
    let again = redeem(&rp, &client, &code, None).await;
    assert_eq!((again.status, oauth_error(&again).as_str()), (400, "invalid_grant"));
    assert_eq!(userinfo(&rp, access).await.status, 401, "the first redemption's access token is revoked");
    let r = refresh(&rp, &client, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(oauth_error(&r), "invalid_grant", "and its refresh token");
    assert_eq!(t.details_of("oidc.code_replayed").await.len(), 1, "a security event");
}

async fn sec_40_of_fifty_concurrent_redemptions_on_two_instances_one_wins(db: TestDb) {
    let t = TestApp::new(db).await;
    let client = register(&t, false, false, None).await;
    let (http, _) = owner_with_two_factor(&t).await;
    let code = code_for(&http, &client.client.client_id, None).await;
    let instances = [std::sync::Arc::new(t.http()), std::sync::Arc::new(Http::new(t.second_instance().await))];
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (rp, client, code) = (instances[i % 2].clone(), client.clone(), code.clone());
        attempts.spawn(async move { redeem(&rp, &client, &code, None).await });
    }
    let answers: Vec<Response> = attempts.join_all().await;
    let won: Vec<&Response> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(won.len(), 1, "{:?}", answers.iter().map(|r| (r.status, r.text())).collect::<Vec<_>>());
    for r in answers.iter().filter(|r| r.status != 200) {
        assert_eq!((r.status, oauth_error(r).as_str()), (400, "invalid_grant"), "{}", r.text());
    }
    let access = won[0].json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(&instances[0], &access).await.status, 401, "the losers' replay revoked the winner's tokens");
}

async fn sec_40_a_code_of_another_client_an_expired_code_and_a_wrong_secret_are_refused(db: TestDb) {
    let t = TestApp::new(db).await;
    let client = register(&t, false, false, None).await;
    let other = register(&t, false, false, None).await;
    let (http, _) = owner_with_two_factor(&t).await;
    let rp = t.http();
    let code = code_for(&http, &client.client.client_id, None).await;
    let r = redeem(&rp, &other, &code, None).await;
    assert_eq!((r.status, oauth_error(&r).as_str()), (400, "invalid_grant"), "a code of another client");
    let code = code_for(&http, &client.client.client_id, None).await;
    t.clock.advance(61);
    let r = redeem(&rp, &client, &code, None).await;
    assert_eq!(oauth_error(&r), "invalid_grant", "codes live at most 60 seconds");
    let code = code_for(&http, &client.client.client_id, None).await;
    let wrong = CreatedApp { client_secret: Some("x".repeat(43)), ..client.clone() };
    let r = redeem(&rp, &wrong, &code, None).await;
    assert_eq!((r.status, oauth_error(&r).as_str()), (401, "invalid_client"));
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    // client_secret_post works too, and the secret is stored hashed.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client.client.client_id.as_str()),
        ("client_secret", client.client_secret.as_deref().unwrap()),
    ];
    let r = rp.post_raw("/oauth2/token", "application/x-www-form-urlencoded", query(&form), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut conn = t.app.store().conn().await.unwrap();
    let row = twofold_store::oidc::clients::by_id(&mut conn, &client.client.client_id).await.unwrap().unwrap();
    assert_ne!(row.secret_hash.as_deref(), client.client_secret.as_deref());
}

async fn sec_42_refresh_tokens_rotate_and_a_reused_one_revokes_the_family(db: TestDb) {
    let t = TestApp::new(db).await;
    let client = register(&t, false, false, None).await;
    let (http, _) = owner_with_two_factor(&t).await;
    let rp = t.http();
    let code = code_for(&http, &client.client.client_id, None).await;
    let first = redeem(&rp, &client, &code, None).await.json();
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let second = refresh(&rp, &client, &r1).await;
    assert_eq!(second.status, 200, "{}", second.text());
    let second = second.json();
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2, "rotated");
    let claims = verified_claims(&rp, second["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["nonce"], "n-1");
    let third = refresh(&rp, &client, &r2).await.json();
    let r3 = third["refresh_token"].as_str().unwrap().to_owned();
    // r1 again: reuse. The whole family ends, the newest token included.
    let r = refresh(&rp, &client, &r1).await;
    assert_eq!((r.status, oauth_error(&r).as_str()), (400, "invalid_grant"));
    assert_eq!(oauth_error(&refresh(&rp, &client, &r3).await), "invalid_grant");
    assert_eq!(userinfo(&rp, third["access_token"].as_str().unwrap()).await.status, 401);
    assert_eq!(t.details_of("oidc.refresh_reused").await.len(), 1);
    // Another client cannot use a refresh token; revocation (RFC 7009) ends a family.
    let other = register(&t, false, false, None).await;
    let code = code_for(&http, &client.client.client_id, None).await;
    let fresh = redeem(&rp, &client, &code, None).await.json();
    let rt = fresh["refresh_token"].as_str().unwrap();
    let auth = basic(&client);
    let r = rp
        .post_raw(
            "/oauth2/revoke",
            "application/x-www-form-urlencoded",
            query(&[("token", rt)]),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        userinfo(&rp, fresh["access_token"].as_str().unwrap()).await.status,
        401,
        "revoking the refresh token ends its grant"
    );
    let code = code_for(&http, &client.client.client_id, None).await;
    let fresh = redeem(&rp, &client, &code, None).await.json();
    let r = refresh(&rp, &other, fresh["refresh_token"].as_str().unwrap()).await;
    assert_eq!(oauth_error(&r), "invalid_grant", "another client's refresh token");
    let r = rp
        .post_raw(
            "/oauth2/revoke",
            "application/x-www-form-urlencoded",
            query(&[("token", "unknown")]),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(r.status, 200, "unknown tokens are answered the same");
}

/// A fresh grant's refresh token for the Owner.
async fn refresh_token_of(t: &TestApp, http: &Http, client: &CreatedApp) -> String {
    let code = code_for(http, &client.client.client_id, None).await;
    let r = redeem(&t.http(), client, &code, None).await;
    r.json()["refresh_token"].as_str().unwrap().to_owned()
}

async fn sec_42_two_factor_off_a_password_change_and_sign_out_everywhere_revoke_refresh_tokens(db: TestDb) {
    let t = TestApp::new(db).await;
    let client = register(&t, false, false, None).await;
    let owner = t.account("acme").await;
    t.person(&owner, "ada@acme.test", Role::User).await;
    let rp = t.http();
    // Sign out everywhere, by the Owner.
    let ada = t.signed_in("ada@acme.test").await;
    let rt = refresh_token_of(&t, &ada, &client).await;
    let o = t.signed_in("owner@acme.test").await;
    let id = t.user("ada@acme.test").await.id;
    assert!(o.post_json(&format!("/api/v1/users/{id}/sign-out"), &json!({})).await.status < 300);
    assert_eq!(oauth_error(&refresh(&rp, &client, &rt).await), "invalid_grant", "sign out everywhere");
    // A password change.
    let ada = t.signed_in("ada@acme.test").await;
    let rt = refresh_token_of(&t, &ada, &client).await;
    let body = json!({ "current_password": PASSWORD, "new_password": "another long passphrase 42" });
    assert_eq!(ada.put_json("/api/v1/me/password", &body).await.status, 204);
    assert_eq!(oauth_error(&refresh(&rp, &client, &rt).await), "invalid_grant", "a password change");
    // A password reset.
    let r = rp.post_json("/api/v1/password-reset", &json!({ "email": "ada@acme.test" })).await;
    assert_eq!(r.status, 202);
    let link = t.mailed_link("ada@acme.test", "/password-reset/").await;
    let http = t.http();
    let ada_session = {
        let r = http
            .post_json("/api/v1/login", &json!({ "email": "ada@acme.test", "password": "another long passphrase 42" }))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
        http
    };
    let rt = refresh_token_of(&t, &ada_session, &client).await;
    let token = link.rsplit('/').next().unwrap();
    let r = rp.post_json(&format!("/api/v1/password-reset/{token}"), &json!({ "password": PASSWORD })).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(oauth_error(&refresh(&rp, &client, &rt).await), "invalid_grant", "a password reset");
    // The reset link reached Ada's mailbox alone: her address is proven from now on.
    let ada = t.signed_in("ada@acme.test").await;
    let code = code_for(&ada, &client.client.client_id, None).await;
    let tokens = redeem(&rp, &client, &code, None).await.json();
    assert_eq!(verified_claims(&rp, tokens["id_token"].as_str().unwrap()).await["email_verified"], true);
    // Turning 2FA off, and an administrator's disable.
    let ada = t.signed_in("ada@acme.test").await;
    let secret = t.enable_two_factor(&ada).await;
    let ada = t.signed_in_with_code("ada@acme.test", &secret).await;
    let rt = refresh_token_of(&t, &ada, &client).await;
    let body = json!({ "password": PASSWORD });
    let r = ada
        .send(Method::DELETE, "/api/v1/me/two-factor", Some("application/json"), Body::from(body.to_string()), &[])
        .await;
    assert!(r.status < 300, "{}", r.text());
    assert_eq!(oauth_error(&refresh(&rp, &client, &rt).await), "invalid_grant", "2FA turned off");
    let ada = t.signed_in("ada@acme.test").await;
    let secret = t.enable_two_factor(&ada).await;
    let ada = t.signed_in_with_code("ada@acme.test", &secret).await;
    let rt = refresh_token_of(&t, &ada, &client).await;
    let o = t.signed_in("owner@acme.test").await;
    let r = o
        .send(
            Method::DELETE,
            &format!("/api/v1/users/{id}/two-factor"),
            Some("application/json"),
            Body::from(body.to_string()),
            &[],
        )
        .await;
    assert!(r.status < 300, "{}", r.text());
    assert_eq!(oauth_error(&refresh(&rp, &client, &rt).await), "invalid_grant", "an administrator's disable");
    // Removing the application ends its tokens too.
    let ada = t.signed_in("ada@acme.test").await;
    let rt = refresh_token_of(&t, &ada, &client).await;
    t.app.remove_app(None, &client.client.client_id, &RequestContext::cli()).await.unwrap();
    assert_eq!(oauth_error(&refresh(&rp, &client, &rt).await), "invalid_client");
}

async fn sec_41_an_account_scoped_client_never_gets_another_accounts_person(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    t.account("globex").await;
    let scoped = register(&t, false, false, Some("owner@acme.test")).await;
    assert!(scoped.client.account_id.is_some());
    let acme = t.signed_in("owner@acme.test").await;
    code_for(&acme, &scoped.client.client_id, None).await;
    let globex = t.signed_in("owner@globex.test").await;
    let r = globex.get(&authorize_path(&scoped.client.client_id, None, &[])).await;
    assert_eq!((r.status, r.header("location")), (400, None), "no code, and no redirect to the other account's app");
    assert!(r.text().contains("not available to your account"), "{}", r.text());
    assert_eq!(t.details_of("oidc.authorization_refused").await[0]["why"], "other_account");
    // An Owner's registration is no open redirector: without a session of its account,
    // faults are pages, and so is signing out towards it.
    let stranger = t.http();
    let bad = authorize_path(&scoped.client.client_id, None, &[]).replace("response_type=code", "response_type=x");
    for path in [bad, authorize_path(&scoped.client.client_id, None, &[("prompt", "none")])] {
        let r = stranger.get(&path).await;
        assert_eq!((r.status, r.header("location")), (400, None), "{path}");
    }
    let logout = format!(
        "/oauth2/logout?client_id={}&post_logout_redirect_uri={}",
        scoped.client.client_id,
        url_encode(LOGGED_OUT)
    );
    let r = stranger.get(&logout).await;
    assert_eq!(r.status, 200);
    assert!(!r.text().contains("http-equiv=\"refresh\""), "a link, not a redirect: {}", r.text());
    assert!(r.text().contains(LOGGED_OUT));
    // An instance-wide client serves both, and says which account each is in.
    let wide = register(&t, false, false, None).await;
    let code = code_for(&globex, &wide.client.client_id, None).await;
    let tokens = redeem(&t.http(), &wide, &code, None).await.json();
    let claims = verified_claims(&t.http(), tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["account"]["name"], "globex");
}

async fn sec_41_a_two_factor_client_never_gets_a_token_for_a_password_only_session(db: TestDb) {
    let t = TestApp::new(db).await;
    let strict = register(&t, false, true, None).await;
    let id = strict.client.client_id.as_str();
    t.account("acme").await;
    // No 2FA: led through the wizard, and back to the request after.
    let early = t.signed_in("owner@acme.test").await;
    let http = t.signed_in("owner@acme.test").await;
    let r = http.get(&authorize_path(id, None, &[])).await;
    let location = r.header("location").unwrap();
    assert!(location.starts_with("/me/two-factor/enable?rd=%2Foauth2%2Fauthorize%3F"), "{location}");
    let r = http.get(&authorize_path(id, None, &[("prompt", "none")])).await;
    assert_eq!(param(&location_params(&r), "error").as_deref(), Some("interaction_required"));
    // The app's code alone (step 3, 2FA not yet on) is not two-factor.
    let r = http.post_json("/api/v1/me/two-factor/enrollment", &json!({})).await;
    let half = Secret::from_base32(r.json()["secret"].as_str().unwrap()).unwrap();
    let r = http.post_json("/api/v1/me/two-factor/enrollment/code", &json!({ "code": t.code(&half, 0) })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = http.get(&authorize_path(id, None, &[])).await;
    assert!(r.header("location").unwrap().starts_with("/me/two-factor/enable?rd="), "still the wizard");
    t.clock.advance(60);
    // The whole wizard in this very session: now a code, and amr says otp.
    t.enable_two_factor(&http).await;
    let code = code_for(&http, id, None).await;
    let tokens = redeem(&t.http(), &strict, &code, None).await.json();
    let claims = verified_claims(&t.http(), tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    // A session signed in by password before 2FA went on (elsewhere) must sign in again; the
    // GET ends nothing (no sign-out by a link), the new sign-in will replace it.
    let r = early.get(&authorize_path(id, None, &[])).await;
    assert!(r.header("location").unwrap().starts_with("/login?fresh=1&rd="), "{:?}", r.header("location"));
    assert_eq!(early.get("/api/v1/me").await.status, 200);
    let page = early.get(&r.header("location").unwrap()).await;
    assert!(page.text().contains("id=\"login-form\""), "the form, although signed in");
    // A client that does not require 2FA takes a password-only session, and says so.
    let lax = register(&t, false, false, None).await;
    t.person(&t.user("owner@acme.test").await, "uma@acme.test", Role::User).await;
    let uma = t.signed_in("uma@acme.test").await;
    let code = code_for(&uma, &lax.client.client_id, None).await;
    let tokens = redeem(&t.http(), &lax, &code, None).await.json();
    let claims = verified_claims(&t.http(), tokens["id_token"].as_str().unwrap()).await;
    assert_eq!((claims["amr"].clone(), claims["acr"].clone()), (json!(["pwd"]), json!("urn:twofold:acr:pwd")));
    // Unless the request asks for the two-factor acr: then as if the client required it.
    let r = uma.get(&authorize_path(&lax.client.client_id, None, &[("acr_values", "urn:twofold:acr:2fa")])).await;
    assert!(r.header("location").unwrap().starts_with("/me/two-factor/enable?rd="), "{:?}", r.header("location"));
}

async fn sec_41_signing_keys_rotate_with_an_overlap(db: TestDb) {
    let t = TestApp::new(db).await;
    let es256 = register(&t, false, false, None).await;
    let rs256 = register_signed_with(&t, Alg::Rs256).await;
    let (http, secret) = owner_with_two_factor(&t).await;
    let rp = t.http();
    let mut before = Vec::new();
    for client in [&es256, &rs256] {
        let code = code_for(&http, &client.client.client_id, None).await;
        before.push(redeem(&rp, client, &code, None).await.json()["id_token"].as_str().unwrap().to_owned());
    }
    let rotations = t.app.rotate_signing_keys().await.unwrap();
    assert_eq!(rotations.iter().map(|r| r.alg).collect::<Vec<_>>(), Alg::ALL, "both keys rotate");
    let keys = published_keys(&rp).await;
    assert_eq!(keys.len(), 4, "each algorithm's new key and its retired one");
    let kid = |token: &str| {
        let header: Value =
            serde_json::from_slice(&BASE64URL_NOPAD.decode(token.split('.').next().unwrap().as_bytes()).unwrap())
                .unwrap();
        (header["alg"].as_str().unwrap().to_owned(), header["kid"].as_str().unwrap().to_owned())
    };
    for ((client, before), rotation) in [&es256, &rs256].into_iter().zip(&before).zip(&rotations) {
        let code = code_for(&http, &client.client.client_id, None).await;
        let after = redeem(&rp, client, &code, None).await.json()["id_token"].as_str().unwrap().to_owned();
        assert!(jws::verify(before, &keys).is_ok(), "a token signed before the rotation still verifies");
        assert!(jws::verify(&after, &keys).is_ok());
        let alg = rotation.alg.as_str().to_owned();
        assert_eq!(kid(&after), (alg.clone(), rotation.new_kid.clone()));
        assert_eq!(Some(kid(before)), rotation.retired_kid.clone().map(|k| (alg, k)));
    }
    // After the overlap the retired keys are gone.
    t.clock.advance(twofold_app::domain::oidc::KEY_OVERLAP_SECONDS + 1);
    t.app.sweep_expired_sessions().await.unwrap();
    let keys = published_keys(&rp).await;
    assert_eq!(keys.len(), 2);
    for before in &before {
        assert!(jws::verify(before, &keys).is_err());
    }
    // `twofold keys rotate` re-seals the signing keys with the secrets.
    t.app.rotate_keys().await.unwrap();
    let http = t.signed_in_with_code("owner@acme.test", &secret).await;
    for client in [&es256, &rs256] {
        let code = code_for(&http, &client.client.client_id, None).await;
        let r = redeem(&rp, client, &code, None).await;
        assert_eq!(r.status, 200);
        assert!(jws::verify(r.json()["id_token"].as_str().unwrap(), &keys).is_ok());
    }
}

async fn preferred_username_is_the_address_and_only_the_mailed_invitation_link_proves_it(db: TestDb) {
    let t = TestApp::new(db).await;
    let client = register_signed_with(&t, Alg::Rs256).await;
    t.account("acme").await;
    let owner = t.signed_in("owner@acme.test").await;
    let rp = t.http();
    for (email, by_mail) in [("pat@acme.test", true), ("sam@acme.test", false)] {
        let r =
            owner.post_json("/api/v1/users", &json!({ "email": email, "name": "New Person", "role": "user" })).await;
        assert_eq!(r.status, 201, "{}", r.text());
        let shown = r.json()["invitation_url"].as_str().unwrap().to_owned();
        let mailed = t.mailed_link(email, "/invitations/").await;
        assert_ne!(shown, mailed, "the inviter is shown another link than the one mailed");
        let (used, other) = if by_mail { (&mailed, &shown) } else { (&shown, &mailed) };
        let accept = |link: &str| format!("/api/v1/invitations/{}", link.rsplit('/').next().unwrap());
        let password = json!({ "password": PASSWORD });
        assert_eq!(rp.post_json(&accept(used), &password).await.status, 200);
        assert_eq!(rp.post_json(&accept(other), &password).await.status, 404, "using one link ends the other");
        let http = t.signed_in(email).await;
        let code = code_for(&http, &client.client.client_id, None).await;
        let tokens = redeem(&rp, &client, &code, None).await.json();
        let id_token = tokens["id_token"].as_str().unwrap();
        let header: Value =
            serde_json::from_slice(&BASE64URL_NOPAD.decode(id_token.split('.').next().unwrap().as_bytes()).unwrap())
                .unwrap();
        assert_eq!(header["alg"], "RS256", "the application asked for RS256");
        let claims = verified_claims(&rp, id_token).await;
        assert_eq!(claims["preferred_username"], email);
        assert_eq!(claims["email_verified"], by_mail, "{email}: proven only by the mailed link");
        let info = userinfo(&rp, tokens["access_token"].as_str().unwrap()).await.json();
        assert_eq!((&info["preferred_username"], &info["email_verified"]), (&json!(email), &json!(by_mail)));
    }
}

async fn prompt_none_prompt_login_and_max_age_behave_as_the_standard_says(db: TestDb) {
    let t = TestApp::new(db).await;
    let client = register(&t, false, false, None).await;
    let id = client.client.client_id.as_str();
    t.account("acme").await;
    let stranger = t.http();
    let r = stranger.get(&authorize_path(id, None, &[("prompt", "none")])).await;
    let p = location_params(&r);
    assert_eq!(param(&p, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&p, "state").as_deref(), Some("st-1"));
    assert_eq!(param(&p, "iss").as_deref(), Some("http://127.0.0.1:8080"));
    let r = stranger.get(&authorize_path(id, None, &[])).await;
    assert!(r.header("location").unwrap().starts_with("/login?rd=%2Foauth2%2Fauthorize%3F"));
    // prompt=login: a session is not enough. The sign-in page shows its form; the return
    // trades prompt=login for a max_age the new session meets, and nothing ends by the GET.
    let http = t.signed_in("owner@acme.test").await;
    let r = http.get(&authorize_path(id, None, &[("prompt", "login")])).await;
    let location = r.header("location").unwrap();
    assert!(location.starts_with("/login?fresh=1&rd="), "{location}");
    assert!(!location.contains("prompt"), "{location}");
    assert!(location.contains("max_age%3D300"), "{location}");
    assert_eq!(http.get("/api/v1/me").await.status, 200);
    let page = http.get(&location).await;
    let csrf = page.form_csrf();
    let r =
        http.post_form("/login", &[("csrf_token", &csrf), ("email", "owner@acme.test"), ("password", PASSWORD)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/continue"), "{}", r.text());
    let r = http.get("/continue").await;
    let text = r.text();
    let start = text.find("url=").unwrap() + 4;
    let next = text[start..].split('"').next().unwrap().replace("&amp;", "&").replace("&#38;", "&");
    let r = http.get(&next).await;
    assert!(
        r.header("location").unwrap().starts_with(REDIRECT),
        "a code after the fresh sign-in: {:?}",
        r.header("location")
    );
    // max_age: a session older than it signs in again.
    let http = t.signed_in("owner@acme.test").await;
    code_for(&http, id, None).await;
    t.clock.advance(120);
    let r = http.get(&authorize_path(id, None, &[("max_age", "60")])).await;
    assert!(r.header("location").unwrap().starts_with("/login?fresh=1&rd="));
    let http = t.signed_in("owner@acme.test").await;
    let r = http.get(&authorize_path(id, None, &[("max_age", "60")])).await;
    assert!(r.header("location").unwrap().starts_with(REDIRECT));
}

async fn malformed_or_hostile_parameters_get_oauth_errors_never_a_500(db: TestDb) {
    let t = TestApp::new(db).await;
    let client = register(&t, false, false, None).await;
    let (http, _) = owner_with_two_factor(&t).await;
    let id = client.client.client_id.as_str();
    let rp = t.http();
    let auth = basic(&client);
    let form = "application/x-www-form-urlencoded";
    let post = |body: String, ct: &'static str, extra: Vec<(&'static str, String)>| {
        let rp = &rp;
        async move {
            let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
            rp.post_raw("/oauth2/token", ct, body, &extra).await
        }
    };
    let with_auth = || vec![("authorization", auth.clone())];
    let cases: Vec<(Response, u16, &str)> = vec![
        (
            post(json!({ "grant_type": "authorization_code" }).to_string(), "application/json", with_auth()).await,
            400,
            "invalid_request",
        ),
        (
            post("grant_type=authorization_code&grant_type=refresh_token".into(), form, with_auth()).await,
            400,
            "invalid_request",
        ),
        (
            post("grant_type=password&username=a&password=b".into(), form, with_auth()).await,
            400,
            "unsupported_grant_type",
        ),
        (post("code=x".into(), form, with_auth()).await, 400, "invalid_request"),
        (
            post(format!("grant_type=authorization_code&code={}", "A".repeat(20_000)), form, with_auth()).await,
            400,
            "invalid_grant",
        ),
        (post("grant_type=authorization_code&code=%00%FF".into(), form, with_auth()).await, 400, "invalid_grant"),
        (
            post("grant_type=authorization_code&code=x".into(), form, vec![("authorization", "Basic !!!".into())])
                .await,
            401,
            "invalid_client",
        ),
        (
            post(
                "grant_type=authorization_code&code=x".into(),
                form,
                vec![("authorization", format!("Basic {}", BASE64.encode(b"no-colon")))],
            )
            .await,
            401,
            "invalid_client",
        ),
        (
            post("grant_type=authorization_code&code=x&client_secret=y".into(), form, with_auth()).await,
            400,
            "invalid_request",
        ),
        (post("grant_type=authorization_code&code=x".into(), form, vec![]).await, 401, "invalid_client"),
        (
            post(format!("grant_type=refresh_token&refresh_token={}", "r".repeat(43)), form, with_auth()).await,
            400,
            "invalid_grant",
        ),
    ];
    for (r, status, error) in &cases {
        assert_eq!((r.status, oauth_error(r).as_str()), (*status, *error), "{}", r.text());
        assert!(r.json()["error_description"].is_string());
    }
    let body = "a=".to_string() + &"b".repeat(200_000);
    let r = post(body, form, with_auth()).await;
    assert_eq!(r.status, 413, "the body limit holds on the token endpoint");
    // The authorization endpoint: oversized state, bad max_age, request objects, duplicates.
    let long_state = authorize_path(id, None, &[]).replace("state=st-1", &format!("state={}", "s".repeat(2000)));
    let r = http.get(&long_state).await;
    assert_eq!(param(&location_params(&r), "error").as_deref(), Some("invalid_request"), "an oversized state");
    assert!(param(&location_params(&r), "state").is_none(), "not echoed beyond its bound");
    for extra in [
        vec![("max_age", "soon".to_string())],
        vec![("request", "eyJhbGciOiJub25lIn0.e30.".to_string())],
        vec![("prompt", "none login".to_string())],
        vec![("code_challenge", "short".to_string()), ("code_challenge_method", "S256".to_string())],
    ] {
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = http.get(&authorize_path(id, None, &extra)).await;
        assert_eq!(r.status, 303, "{extra:?}: {}", r.text());
        assert!(param(&location_params(&r), "error").is_some(), "{extra:?}");
    }
    let r = http.get(&format!("{}&client_id={id}", authorize_path(id, None, &[]))).await;
    assert_eq!(r.status, 400, "a repeated parameter is a page, not a redirect");
    let r = http.get(&format!("/oauth2/authorize?client_id={}", "c".repeat(5000))).await;
    assert_eq!(r.status, 400);
    // Userinfo without or with a bad bearer.
    let r = rp.get("/oauth2/userinfo").await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("invalid_token"));
    // alg: none and forged hints at logout are refused, not trusted.
    let none = format!(
        "{}.{}.",
        BASE64URL_NOPAD.encode(br#"{"alg":"none"}"#),
        BASE64URL_NOPAD.encode(br#"{"sub":"1","aud":"x"}"#)
    );
    let r = http
        .get(&format!("/oauth2/logout?id_token_hint={none}&post_logout_redirect_uri={}", url_encode(LOGGED_OUT)))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(http.get("/api/v1/me").await.status, 200, "still signed in");
}

async fn rp_initiated_logout_ends_the_session_and_returns_only_to_a_registered_uri(db: TestDb) {
    let t = TestApp::new(db).await;
    let client = register(&t, false, false, None).await;
    let (http, secret) = owner_with_two_factor(&t).await;
    let rp = t.http();
    let code = code_for(&http, &client.client.client_id, None).await;
    let tokens = redeem(&rp, &client, &code, None).await.json();
    let hint = tokens["id_token"].as_str().unwrap();
    // An unregistered post-logout URI: refused, still signed in.
    let r = http
        .get(&format!(
            "/oauth2/logout?id_token_hint={hint}&post_logout_redirect_uri={}",
            url_encode("https://evil.test/")
        ))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(http.get("/api/v1/me").await.status, 200);
    // Without a hint: asked first.
    let r = http
        .get(&format!(
            "/oauth2/logout?client_id={}&post_logout_redirect_uri={}&state=s9",
            client.client.client_id,
            url_encode(LOGGED_OUT)
        ))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("asks to sign you out"), "{}", r.text());
    assert_eq!(http.get("/api/v1/me").await.status, 200, "nothing ended by a link alone");
    // With the hint of this very session: signed out at once, back to the application.
    let r = http
        .get(&format!(
            "/oauth2/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=s9",
            url_encode(LOGGED_OUT)
        ))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains(&format!("url={LOGGED_OUT}?state=s9")), "{}", r.text());
    assert_eq!(http.get("/api/v1/me").await.status, 401);
    assert_eq!(userinfo(&rp, tokens["access_token"].as_str().unwrap()).await.status, 401, "the session's grants end");
    assert_eq!(t.details_of("oidc.logout").await.len(), 1);
    // The confirmation form, for a session the hint does not name.
    let http = t.signed_in_with_code("owner@acme.test", &secret).await;
    let page = http
        .get(&format!(
            "/oauth2/logout?client_id={}&post_logout_redirect_uri={}",
            client.client.client_id,
            url_encode(LOGGED_OUT)
        ))
        .await;
    let csrf = page.form_csrf();
    let r = http
        .post_form(
            "/oauth2/logout",
            &[
                ("csrf_token", &csrf),
                ("client_id", &client.client.client_id),
                ("post_logout_redirect_uri", LOGGED_OUT),
                ("state", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(&format!("url={LOGGED_OUT}\"")), "{}", r.text());
    assert_eq!(http.get("/api/v1/me").await.status, 401);
}

async fn owners_manage_their_accounts_apps_through_the_api(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    t.person(&owner, "adam@acme.test", Role::Admin).await;
    let o = t.signed_in("owner@acme.test").await;
    let body = json!({ "name": "Wiki", "redirect_uris": [REDIRECT], "require_two_factor": true });
    let r = o.post_json("/api/v1/apps", &body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["issuer"], "http://127.0.0.1:8080");
    let list = o.get("/api/v1/apps").await.json();
    assert_eq!(list[0]["client_id"], id.as_str());
    assert_eq!(list[0]["require_two_factor"], true);
    assert!(list[0].get("client_secret").is_none(), "the secret is shown once");
    // Bad registrations are 422 with the reason.
    for bad in [
        json!({ "name": "", "redirect_uris": [REDIRECT] }),
        json!({ "name": "X", "redirect_uris": ["http://app.example.test/cb"] }),
        json!({ "name": "X", "redirect_uris": [] }),
        json!({ "name": "X", "redirect_uris": ["https://a.test/#f"] }),
    ] {
        let r = o.post_json("/api/v1/apps", &bad).await;
        assert_eq!((r.status, r.error_code().as_str()), (422, "invalid_app"), "{bad}");
    }
    let r = o.post_json("/api/v1/apps", &json!({ "name": "X" })).await;
    assert_eq!(r.status, 422, "{}", r.text());
    // Administrators cannot manage applications.
    let a = t.signed_in("adam@acme.test").await;
    assert_eq!(a.get("/api/v1/apps").await.status, 403);
    assert_eq!(a.post_json("/api/v1/apps", &body).await.status, 403);
    // Rotate: the old secret stops working.
    let r = o.post_json(&format!("/api/v1/apps/{id}/secret"), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let new_secret = r.json()["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let probe = |s: &str| format!("Basic {}", BASE64.encode(format!("{id}:{s}").as_bytes()));
    let rp = t.http();
    let old = rp
        .post_raw(
            "/oauth2/token",
            "application/x-www-form-urlencoded",
            "grant_type=refresh_token&refresh_token=x",
            &[("authorization", &probe(&secret))],
        )
        .await;
    assert_eq!(old.status, 401);
    let new = rp
        .post_raw(
            "/oauth2/token",
            "application/x-www-form-urlencoded",
            "grant_type=refresh_token&refresh_token=x",
            &[("authorization", &probe(&new_secret))],
        )
        .await;
    assert_eq!(new.status, 400, "authenticated; the token is what is wrong");
    // Another account's Owner sees nothing of it and cannot remove it.
    t.account("globex").await;
    let g = t.signed_in("owner@globex.test").await;
    assert_eq!(g.get("/api/v1/apps").await.json(), json!([]));
    let r = g.send(Method::DELETE, &format!("/api/v1/apps/{id}"), None, Body::empty(), &[]).await;
    assert_eq!(r.status, 404);
    let r = o.send(Method::DELETE, &format!("/api/v1/apps/{id}"), None, Body::empty(), &[]).await;
    assert_eq!(r.status, 204);
    assert_eq!(o.get("/api/v1/apps").await.json(), json!([]));
    let events: Vec<String> = t.events(owner.account_id).await.into_iter().map(|e| e.0).collect();
    for e in ["oidc.client_created", "oidc.client_secret_rotated", "oidc.client_removed", "oidc.client_change_refused"]
    {
        assert!(events.contains(&e.to_string()), "{e}: {events:?}");
    }
}

async fn the_apps_tab_registers_an_app_and_shows_its_secret_once(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let browser = t.signed_in("owner@acme.test").await;
    let users = browser.get("/users").await;
    assert!(users.text().contains("href=\"/apps\""), "the Apps tab");
    let page = browser.get("/apps").await;
    assert_eq!(page.status, 200);
    let csrf = page.form_csrf();
    let r = browser
        .post_form(
            "/apps",
            &[
                ("csrf_token", &csrf),
                ("name", "Wiki"),
                ("redirect_uris", &format!("{REDIRECT}\n")),
                ("post_logout_redirect_uris", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("id=\"client-secret\""));
    let again = browser.get("/apps").await;
    assert!(again.text().contains("Wiki"));
    assert!(!again.text().contains("id=\"client-secret\""), "shown once");
    let r = browser.post_form("/apps", &[("csrf_token", &csrf), ("name", "Bad"), ("redirect_uris", "ftp://x")]).await;
    assert_eq!(r.status, 422);
    assert!(r.text().contains("not a usable redirect URI"));
    // An Administrator has no Apps tab, and the page itself refuses them.
    let owner = t.user("owner@acme.test").await;
    t.person(&owner, "adam@acme.test", Role::Admin).await;
    let admin = t.signed_in("adam@acme.test").await;
    assert!(!admin.get("/users").await.text().contains("href=\"/apps\""));
    assert_eq!(admin.get("/apps").await.status, 403);
}

async fn a_person_signs_in_through_the_pages_and_the_login_page_names_the_application(db: TestDb) {
    let t = TestApp::new(db).await;
    let client = register(&t, false, false, None).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let secret = t.enable_two_factor(&http).await;
    let browser = t.http();
    let (verifier, challenge) = pkce();
    let r = browser.get(&authorize_path(&client.client.client_id, Some(&challenge), &[])).await;
    let login = r.header("location").unwrap();
    let page = browser.get(&login).await;
    assert!(page.text().contains("Sign in to continue to <strong>Wiki</strong>"), "{}", page.text());
    let csrf = page.form_csrf();
    let r = browser
        .post_form("/login", &[("csrf_token", &csrf), ("email", "owner@acme.test"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.header("location").as_deref(), Some("/login/code"));
    let csrf = browser.get("/login/code").await.form_csrf();
    let r = browser.post_form("/login/code", &[("csrf_token", &csrf), ("code", &t.code(&secret, 0))]).await;
    assert_eq!(r.header("location").as_deref(), Some("/continue"));
    // Back to the request by a page that moves on (the CSP's form-action holds the whole
    // redirect chain of the form just sent).
    let r = browser.get("/continue").await;
    assert_eq!(r.status, 200);
    let text = r.text();
    let start = text.find("url=").unwrap() + 4;
    let next = text[start..].split('"').next().unwrap().replace("&amp;", "&").replace("&#38;", "&");
    assert!(next.starts_with("/oauth2/authorize?"), "{next}");
    let r = browser.get(&next).await;
    let code = param(&location_params(&r), "code").unwrap();
    let tokens = redeem(&t.http(), &client, &code, Some(&verifier)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text());
}

async fn the_overview_counts_sign_ins_per_application_not_refreshes(db: TestDb) {
    let t = TestApp::new(db).await;
    let wiki = register(&t, false, false, None).await;
    let new = NewApp { name: "Reports".into(), redirect_uris: vec![REDIRECT.into()], ..NewApp::default() };
    let reports = t.app.add_instance_app(&new, None).await.unwrap();
    let (http, _) = owner_with_two_factor(&t).await;
    let rp = t.http();
    for _ in 0..2 {
        let code = code_for(&http, &wiki.client.client_id, None).await;
        assert_eq!(redeem(&rp, &wiki, &code, None).await.status, 200);
    }
    let code = code_for(&http, &reports.client.client_id, None).await;
    let tokens = redeem(&rp, &reports, &code, None).await.json();
    let refreshed = refresh(&rp, &reports, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    let o = http.get("/api/v1/account/overview").await.json();
    let apps: Vec<(String, i64)> = o["needs_attention"]["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap().to_owned(), a["sign_ins"].as_i64().unwrap()))
        .collect();
    assert_eq!(apps, [("Wiki".to_owned(), 2), ("Reports".to_owned(), 1)], "a refresh is not a sign-in");
    let page = http.get("/overview").await.text();
    assert!(page.contains("<li>Wiki: 2</li>"), "{page}");
}

async fn the_groups_claim_names_the_persons_groups_under_the_groups_scope(db: TestDb) {
    let t = TestApp::new(db).await;
    let client = register(&t, false, false, None).await;
    let (http, _) = owner_with_two_factor(&t).await;
    let owner = t.user("owner@acme.test").await;
    let id = http.post_json("/api/v1/groups", &json!({ "name": "vpn-users" })).await.json()["id"].as_i64().unwrap();
    let r = http.put_json(&format!("/api/v1/groups/{id}/members"), &json!({ "user_ids": [owner.id] })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let rp = t.http();
    // Without the scope: no claim.
    let code = code_for(&http, &client.client.client_id, None).await;
    let tokens = redeem(&rp, &client, &code, None).await.json();
    let claims = verified_claims(&rp, tokens["id_token"].as_str().unwrap()).await;
    assert!(claims.get("groups").is_none(), "{claims:?}");
    // With it, in the ID token and from userinfo.
    let params = [
        ("response_type", "code"),
        ("client_id", client.client.client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "openid groups"),
        ("state", "st-1"),
        ("nonce", "n-1"),
    ];
    let r = http.get(&format!("/oauth2/authorize?{}", query(&params))).await;
    let code = param(&location_params(&r), "code").unwrap();
    let tokens = redeem(&rp, &client, &code, None).await.json();
    let claims = verified_claims(&rp, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["groups"], json!(["vpn-users"]));
    let info = userinfo(&rp, tokens["access_token"].as_str().unwrap()).await.json();
    assert_eq!(info["groups"], json!(["vpn-users"]));
}
