//! SCIM 2.0 provisioning: the request sequences Microsoft Entra ID and Okta document, the
//! scim2-tester compliance checker (a real SCIM client from another project, from pip)
//! against the real binary, and the attacks of SEC-50. Both databases.

use std::process::Command;

use axum::http::Method;
use serde_json::{Value, json};
use twofold_app::domain::Role;

use crate::support::api::{api_sign_in, create_account};
use crate::support::http::Response;
use crate::support::server::Server;
use crate::support::{Http, PASSWORD, TestApp, TestDb};

on_both_databases!(
    the_sequence_microsoft_entra_id_sends_provisions_updates_deactivates_and_removes,
    the_sequence_okta_sends_provisions_and_pushes_groups,
    sec_50_scim_never_touches_the_owner_and_never_leaves_its_account,
    bad_requests_get_scim_errors_never_a_5xx,
    scim2_tester_finds_the_server_compliant,
);

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// A token with `scopes`, made by the Owner of acme on the Apps tab's API.
async fn token(t: &TestApp, owner_email: &str, scopes: &[&str]) -> String {
    let owner = t.signed_in(owner_email).await;
    let body = json!({ "name": "directory", "scopes": scopes, "password": PASSWORD });
    let r = owner.post_json("/api/v1/tokens", &body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["token"].as_str().unwrap().to_owned()
}

async fn scim(http: &Http, method: Method, path: &str, token: &str, body: Option<Value>) -> Response {
    let auth = format!("Bearer {token}");
    let (content_type, body) = match body {
        Some(b) => (Some("application/scim+json"), b.to_string().into()),
        None => (None, axum::body::Body::empty()),
    };
    let r = http.send(method, &format!("/scim/v2{path}"), content_type, body, &[("authorization", &auth)]).await;
    assert!(r.status < 500 || r.status == 501, "{path}: {} {}", r.status, r.text());
    let media = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(r.status == 204 || media.starts_with("application/scim+json"), "{path}: {media}");
    r
}

fn patch(operations: Value) -> Value {
    json!({ "schemas": [PATCH], "Operations": operations })
}

fn id(r: &Response) -> String {
    r.json()["id"].as_str().unwrap_or_else(|| panic!("no id: {} {}", r.status, r.text())).to_owned()
}

async fn the_sequence_microsoft_entra_id_sends_provisions_updates_deactivates_and_removes(db: TestDb) {
    // https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let tok = token(&t, "owner@acme.test", &["scim"]).await;
    let http = t.http();
    let upn = "Test_User_ab6490ee@acme.test";

    let r = scim(&http, Method::GET, &format!("/Users?filter=userName+eq+%22{upn}%22"), &tok, None).await;
    assert_eq!((r.status, r.json()["totalResults"].as_i64()), (200, Some(0)));
    let posted = json!({
        "schemas": [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": upn,
        "active": true,
        "emails": [{ "primary": true, "type": "work", "value": "Test_User_fd0ea19b@acme.test" }],
        "meta": { "resourceType": "User" },
        "name": { "formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName" },
        "roles": [],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "department": "Eng" },
    });
    let r = scim(&http, Method::POST, "/Users", &tok, Some(posted.clone())).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let user_id = id(&r);
    let location = r.headers["location"].to_str().unwrap();
    assert!(location.starts_with("http") && location.ends_with(&format!("/scim/v2/Users/{user_id}")), "{location}");
    assert_eq!(r.json()["userName"], upn);
    assert_eq!(r.json()["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
    let again = scim(&http, Method::POST, "/Users", &tok, Some(posted)).await;
    assert_eq!((again.status, again.json()["scimType"].as_str()), (409, Some("uniqueness")));

    // The new person is a User of acme, invited by mail, and sets a password.
    let link = t.mailed_link(&upn.to_lowercase(), "/invitations/").await;
    let raw = link.rsplit('/').next().unwrap();
    let r = t.http().post_json(&format!("/api/v1/invitations/{raw}"), &json!({ "password": PASSWORD })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let person = t.signed_in(&upn.to_lowercase()).await;
    assert_eq!(person.get("/api/v1/me").await.json()["role"], "user");
    let numeric: i64 = user_id.parse().unwrap();
    let store = t.app.store().clone();
    let verified = || {
        let store = store.clone();
        async move { twofold_store::users::email_verified(&mut store.conn().await.unwrap(), numeric).await.unwrap() }
    };
    assert!(verified().await, "the mailed invitation proved the address");

    let r =
        scim(&http, Method::GET, "/Users?filter=externalId+eq+%220a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef%22", &tok, None)
            .await;
    assert_eq!(r.json()["Resources"][0]["id"], user_id.as_str());
    let r = scim(
        &http,
        Method::PATCH,
        &format!("/Users/{user_id}"),
        &tok,
        Some(patch(json!([
            { "op": "Replace", "path": "displayName", "value": "Ryan Leenay" },
            { "op": "Replace", "path": "name.familyName", "value": "Leenay" },
            { "op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "7" },
        ]))),
    )
    .await;
    assert_eq!((r.status, r.json()["displayName"].as_str()), (200, Some("Ryan Leenay")), "{}", r.text());
    assert_eq!(person.get("/api/v1/me").await.json()["name"], "Ryan Leenay");
    let moved = patch(json!([{ "op": "Replace", "path": "userName", "value": "ryan.leenay@acme.test" }]));
    let r = scim(&http, Method::PATCH, &format!("/Users/{user_id}"), &tok, Some(moved)).await;
    assert_eq!(r.json()["emails"][0]["value"], "ryan.leenay@acme.test");
    assert!(!verified().await, "a new address is not proven by the old one's mail");
    let back = patch(json!([{ "op": "Replace", "path": "userName", "value": upn }]));
    scim(&http, Method::PATCH, &format!("/Users/{user_id}"), &tok, Some(back)).await;

    // Disabling in Entra ID: "False" as a string. Every way in closes at once.
    let path = format!("/Users/{user_id}");
    let off = patch(json!([{ "op": "Replace", "path": "active", "value": "False" }]));
    let r = scim(&http, Method::PATCH, &path, &tok, Some(off.clone())).await;
    assert_eq!(r.json()["active"], false);
    assert_eq!(person.get("/api/v1/me").await.status, 401, "the session ended");
    let r = t.http().post_json("/api/v1/login", &json!({ "email": upn, "password": PASSWORD })).await;
    assert_eq!(r.json()["error"]["code"], "account_deactivated");
    assert_eq!(scim(&http, Method::PATCH, &path, &tok, Some(off)).await.status, 200, "twice is no error");
    let on = patch(json!([{ "op": "Replace", "path": "active", "value": "True" }]));
    assert_eq!(scim(&http, Method::PATCH, &path, &tok, Some(on)).await.json()["active"], true);
    assert_eq!(t.details_of("person.deactivated").await.len(), 1);

    // Groups, and membership the way Entra ID checks and changes it.
    let r = scim(
        &http,
        Method::POST,
        "/Groups",
        &tok,
        Some(json!({ "schemas": [GROUP], "externalId": "g-1", "displayName": "Sales", "members": [] })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let group_id = id(&r);
    let gpath = format!("/Groups/{group_id}");
    let add = patch(json!([{ "op": "Add", "path": "members", "value": [{ "value": user_id }] }]));
    assert_eq!(scim(&http, Method::PATCH, &gpath, &tok, Some(add)).await.status, 200);
    let check = format!(
        "/Groups?excludedAttributes=members&filter=id+eq+%22{group_id}%22+and+members%5Bvalue+eq+%22{user_id}%22%5D"
    );
    let r = scim(&http, Method::GET, &check, &tok, None).await;
    assert_eq!(r.json()["totalResults"], 1);
    assert!(r.json()["Resources"][0].get("members").is_none(), "excluded");
    let r = scim(&http, Method::GET, &format!("/Users/{user_id}"), &tok, None).await;
    assert_eq!(r.json()["groups"][0]["display"], "Sales");
    let remove = patch(json!([{ "op": "Remove", "path": "members", "value": [{ "value": user_id }] }]));
    let r = scim(&http, Method::PATCH, &gpath, &tok, Some(remove)).await;
    assert_eq!(r.json()["members"], json!([]));
    assert_eq!(scim(&http, Method::DELETE, &gpath, &tok, None).await.status, 204);
    assert_eq!(scim(&http, Method::GET, &gpath, &tok, None).await.status, 404);

    assert_eq!(scim(&http, Method::DELETE, &path, &tok, None).await.status, 204);
    assert_eq!(scim(&http, Method::GET, &path, &tok, None).await.status, 404);
    let removed = t.details_of("person.removed").await;
    assert_eq!(removed[0]["email"], upn.to_lowercase(), "the log keeps naming them");
}

async fn the_sequence_okta_sends_provisions_and_pushes_groups(db: TestDb) {
    // https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let tok = token(&t, "owner@acme.test", &["scim"]).await;
    let http = t.http();
    let r = scim(
        &http,
        Method::GET,
        "/Users?filter=userName%20eq%20%22test.user%40acme.test%22&startIndex=1&count=100",
        &tok,
        None,
    )
    .await;
    assert_eq!(r.json()["Resources"], json!([]));
    let r = scim(
        &http,
        Method::POST,
        "/Users",
        &tok,
        Some(json!({
            "schemas": [USER],
            "userName": "test.user@acme.test",
            "name": { "givenName": "Test", "familyName": "User" },
            "emails": [{ "primary": true, "value": "test.user@acme.test", "type": "work" }],
            "displayName": "Test User",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "password": "1mz050nq",
            "active": true,
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(!r.text().contains("1mz050nq"), "a password sent is never kept nor shown");
    let user_id = id(&r);
    let path = format!("/Users/{user_id}");

    // Okta updates a profile with PUT, and a given name alone renames the person.
    let mut whole = scim(&http, Method::GET, &path, &tok, None).await.json();
    whole["name"]["givenName"] = json!("Another");
    whole.as_object_mut().unwrap().remove("displayName");
    let r = scim(&http, Method::PUT, &path, &tok, Some(whole)).await;
    assert_eq!((r.status, r.json()["displayName"].as_str()), (200, Some("Another User")), "{}", r.text());
    let r = scim(
        &http,
        Method::PATCH,
        &path,
        &tok,
        Some(patch(json!([{ "op": "replace", "value": { "name.givenName": "Third" } }]))),
    )
    .await;
    assert_eq!(r.json()["displayName"], "Third User", "a derived name follows its parts");
    let r = scim(
        &http,
        Method::PATCH,
        &path,
        &tok,
        Some(patch(json!([{ "op": "replace", "value": { "active": false } }]))),
    )
    .await;
    assert_eq!(r.json()["active"], false);
    let mut without_active = r.json();
    without_active.as_object_mut().unwrap().remove("active");
    let r = scim(&http, Method::PUT, &path, &tok, Some(without_active)).await;
    assert_eq!(r.json()["active"], false, "leaving active out reactivates nobody");

    // Group push: create with members, add, remove by filter, rename by PUT.
    let second = scim(
        &http,
        Method::POST,
        "/Users",
        &tok,
        Some(json!({ "schemas": [USER], "userName": "two@acme.test", "active": true })),
    )
    .await;
    let second_id = id(&second);
    let r = scim(&http, Method::POST, "/Groups", &tok, Some(json!({ "schemas": [GROUP], "displayName": "Test SCIMv2", "members": [{ "value": user_id, "display": "test.user@acme.test" }] }))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let gpath = format!("/Groups/{}", id(&r));
    let r = scim(
        &http,
        Method::PATCH,
        &gpath,
        &tok,
        Some(patch(
            json!([{ "op": "add", "path": "members", "value": [{ "value": second_id, "display": "two@acme.test" }] }]),
        )),
    )
    .await;
    assert_eq!(r.json()["members"].as_array().unwrap().len(), 2);
    let r = scim(
        &http,
        Method::PATCH,
        &gpath,
        &tok,
        Some(patch(json!([{ "op": "remove", "path": format!("members[value eq \"{user_id}\"]") }]))),
    )
    .await;
    assert_eq!(r.json()["members"][0]["value"], second_id.as_str());
    let r = scim(
        &http,
        Method::PUT,
        &gpath,
        &tok,
        Some(json!({ "schemas": [GROUP], "displayName": "Renamed", "members": [{ "value": second_id }] })),
    )
    .await;
    assert_eq!(
        (r.json()["displayName"].as_str(), r.json()["members"].as_array().map(Vec::len)),
        (Some("Renamed"), Some(1))
    );
    let owner = t.signed_in("owner@acme.test").await;
    let groups = owner.get("/api/v1/groups").await.json();
    assert_eq!(groups[0]["name"], "Renamed", "the Users tab's groups are SCIM's");

    // Pages: startIndex is 1-based, count caps the page, totalResults counts all.
    let r = scim(&http, Method::GET, "/Users?startIndex=2&count=1", &tok, None).await.json();
    assert_eq!(
        (r["totalResults"].as_i64(), r["itemsPerPage"].as_i64(), r["startIndex"].as_i64()),
        (Some(3), Some(1), Some(2))
    );
    let r = scim(
        &http,
        Method::POST,
        "/Users/.search",
        &tok,
        Some(json!({ "filter": "userName sw \"two\"", "attributes": ["userName"] })),
    )
    .await
    .json();
    assert_eq!(r["Resources"], json!([{ "id": second_id, "schemas": [USER], "userName": "two@acme.test" }]));
}

async fn sec_50_scim_never_touches_the_owner_and_never_leaves_its_account(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let admin = t.person(&owner, "ann@acme.test", Role::Admin).await;
    let globex = t.account("globex").await;
    let tok = token(&t, "owner@acme.test", &["scim"]).await;
    let http = t.http();
    let path = format!("/Users/{}", owner.id);
    let r = scim(&http, Method::GET, &path, &tok, None).await;
    assert_eq!(r.status, 200, "the Owner can be read");
    for (method, body) in [
        (Method::PATCH, Some(patch(json!([{ "op": "replace", "path": "active", "value": false }])))),
        (Method::PUT, Some(json!({ "schemas": [USER], "userName": "owner@acme.test", "active": false }))),
        (Method::DELETE, None),
    ] {
        let r = scim(&http, method.clone(), &path, &tok, body).await;
        assert_eq!((r.status, r.json()["detail"].as_str()), (403, Some("owner_protected")), "{method}");
        assert!(r.json().get("scimType").is_none());
    }
    let owners = t.signed_in("owner@acme.test").await;
    assert_eq!(owners.get("/api/v1/me").await.status, 200, "the Owner is untouched");

    // Nor are the Owner's groups: a group the Owner is in keeps them, whatever SCIM sends.
    let owner_member = json!({ "displayName": "admins", "members": [{ "value": owner.id.to_string() }] });
    let r = scim(&http, Method::POST, "/Groups", &tok, Some(owner_member)).await;
    assert_eq!(r.json()["members"], json!([]), "SCIM does not put the Owner in a group");
    let group = id(&r);
    let both = json!({ "user_ids": [owner.id, admin.id] });
    let r = owners.put_json(&format!("/api/v1/groups/{group}/members"), &both).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let emptied = patch(json!([{ "op": "replace", "path": "members", "value": [] }]));
    let r = scim(&http, Method::PATCH, &format!("/Groups/{group}"), &tok, Some(emptied)).await;
    let left: Vec<String> =
        r.json()["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap().to_owned()).collect();
    assert_eq!(left, [owner.id.to_string()], "the Administrator left, the Owner stayed");

    // An Administrator's role never changes through SCIM; another account is out of reach.
    let r = scim(
        &http,
        Method::PATCH,
        &format!("/Users/{}", admin.id),
        &tok,
        Some(patch(json!([{ "op": "add", "path": "roles", "value": [{ "value": "owner" }] }]))),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(owners.get(&format!("/api/v1/users/{}", admin.id)).await.json()["role"], "admin");
    let theirs = format!("/Users/{}", globex.id);
    assert_eq!(scim(&http, Method::GET, &theirs, &tok, None).await.status, 404);
    assert_eq!(scim(&http, Method::DELETE, &theirs, &tok, None).await.status, 404);
    let all = scim(&http, Method::GET, "/Users?count=1000", &tok, None).await.json();
    assert_eq!(all["totalResults"], 2, "acme's two people only");

    // The token: only in the header, only with the scim scope.
    let reader = token(&t, "owner@acme.test", &["people:read"]).await;
    let r = scim(&http, Method::GET, "/Users", &reader, None).await;
    assert_eq!(r.status, 403, "a token without the scim scope");
    let r = http
        .send(Method::GET, &format!("/scim/v2/Users?access_token={tok}"), None, axum::body::Body::empty(), &[])
        .await;
    assert_eq!(r.status, 401, "never from a query string");
    assert!(r.headers.contains_key("www-authenticate"));
    let scim_token_on_api = http
        .send(
            Method::GET,
            "/api/v1/users",
            None,
            axum::body::Body::empty(),
            &[("authorization", &format!("Bearer {tok}"))],
        )
        .await;
    assert_eq!(scim_token_on_api.status, 403, "the scim scope reaches /scim/v2 only");
}

/// A request and the status and `scimType` it must get.
type Case<'a> = (Method, &'a str, Option<Value>, u16, Option<&'a str>);

async fn bad_requests_get_scim_errors_never_a_5xx(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let pat = format!("/Users/{}", t.person(&owner, "pat@acme.test", Role::User).await.id);
    let tok = token(&t, "owner@acme.test", &["scim"]).await;
    let http = t.http();
    let cases: Vec<Case> = vec![
        (Method::GET, "/Users?filter=userName+eq", None, 400, Some("invalidFilter")),
        (Method::GET, "/Users?filter=userName+zz+%22x%22", None, 400, Some("invalidFilter")),
        (Method::GET, "/Users?count=many", None, 400, Some("invalidValue")),
        (Method::POST, "/Users", Some(json!("not an object")), 400, Some("invalidValue")),
        (Method::POST, "/Users", Some(json!({ "userName": "nobody" })), 400, Some("invalidValue")),
        (
            Method::POST,
            "/Users",
            Some(json!({ "userName": "x@y.test", "displayName": "visit https://evil.test" })),
            400,
            Some("invalidValue"),
        ),
        (Method::POST, "/Groups", Some(json!({ "displayName": "a,b" })), 400, Some("invalidValue")),
        (
            Method::POST,
            "/Groups",
            Some(json!({ "displayName": "g", "members": [{ "value": "999999" }] })),
            400,
            Some("invalidValue"),
        ),
        (Method::PATCH, &pat, Some(json!({ "Operations": [] })), 400, Some("invalidSyntax")),
        (Method::PATCH, &pat, Some(patch(json!([{ "op": "remove" }]))), 400, Some("noTarget")),
        (
            Method::PATCH,
            &pat,
            Some(patch(json!([{ "op": "replace", "path": "emails[", "value": 1 }]))),
            400,
            Some("invalidPath"),
        ),
        (Method::GET, "/Users/abc", None, 404, None),
        (Method::GET, "/Users/99999999999999999999", None, 404, None),
        (Method::GET, "/Nothing", None, 404, None),
        (Method::POST, "/.search", Some(json!({})), 501, None),
    ];
    for (method, path, body, status, scim_type) in cases {
        let r = scim(&http, method.clone(), path, &tok, body).await;
        assert_eq!((r.status, r.json()["scimType"].as_str()), (status, scim_type), "{method} {path}: {}", r.text());
        assert_eq!(r.json()["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    }
    let r = http
        .send(
            Method::POST,
            "/scim/v2/Users",
            Some("application/scim+json"),
            "{".into(),
            &[("authorization", &format!("Bearer {tok}"))],
        )
        .await;
    assert_eq!((r.status, r.json()["scimType"].as_str()), (400, Some("invalidSyntax")));
    let huge = json!({ "schemas": [GROUP], "displayName": "big", "members": vec![json!({ "value": "1" }); 150_000] });
    let r = scim(&http, Method::POST, "/Groups", &tok, Some(huge)).await;
    assert_eq!(r.status, 413, "bodies are capped");
}

/// The virtualenv `.ci/run` makes with scim2-tester and its client.
fn python() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("TWOFOLD_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pyenv/bin/python"));
    let ok = Command::new(&path)
        .args(["-c", "import scim2_tester, scim2_client, httpx2"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(path)
}

async fn scim2_tester_finds_the_server_compliant(db: TestDb) {
    let Some(python) = python() else {
        crate::support::skip("the SCIM compliance checker", "target/pyenv has no scim2-tester (see .ci/run)");
        return;
    };
    let server = Server::start(&["--database-url", db.url.as_str()], &[]).await;
    create_account(&server).await;
    let (owner, _) = api_sign_in(&server, "ada@acme.test").await;
    let body = json!({ "name": "checker", "scopes": ["scim"], "password": PASSWORD });
    let made = owner.post(&server, "/api/v1/tokens", body).await;
    let token = made["token"].as_str().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scim/check.py");
    let out = tokio::task::spawn_blocking({
        let base = format!("{}/scim/v2", server.base);
        let token = token.to_owned();
        move || Command::new(python).arg(script).arg(base).arg(token).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the checker found errors");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert!(summary["counts"]["SUCCESS"].as_i64().unwrap() >= 58, "{summary}");
    assert_eq!(summary["failed"], json!([]));
}
