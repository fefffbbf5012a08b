//! A real relying party: Debian's Apache with `mod_auth_openidc`, configured in a temporary
//! directory and run in the foreground (`apache2 -X`, one process) on a free port, in front of
//! a protected page that shows the signed-in person's claims.
//!
//! What the provider must do for mod_auth_openidc 2.4.12 to accept it (found against the real
//! module): discovery with `issuer` (the same string as `RelyingParty::issuer`, a trailing slash
//! apart) and `authorization_endpoint`; `token_endpoint`, `jwks_uri`; `response_types_supported`
//! containing `code` and `token_endpoint_auth_methods_supported` (if present) containing
//! `client_secret_basic`. The token endpoint gets HTTP Basic with the client id and secret each
//! percent-encoded before base64 (RFC 6749 §2.3.1), and `code_verifier` (PKCE S256). The ID token
//! needs `iss`, `sub`, `aud` (the client id, or an array holding it), `exp`, `iat` (within 10
//! minutes of now), the `nonce` sent, `azp` equal to the client id if present, and `at_hash` right
//! if present; ES256 signatures as raw `r || s` (64 bytes), `kid` matching a JWKS key (an unknown
//! `kid` makes it fetch the JWKS once more, then fail). `iss` in the authorization response is
//! optional, compared exactly when present. The userinfo endpoint is optional (and its failure is
//! only logged). Logout sends the browser to `end_session_endpoint` with `id_token_hint` and
//! `post_logout_redirect_uri` only (no `client_id`, no `state`).
//!
//! Quirks a test must mind: requests without `Accept: text/html` (or `*/*`), with
//! `X-Requested-With: XMLHttpRequest` or a non-navigate `Sec-Fetch-Mode` get 401 instead of the
//! redirect to the provider; the page must be asked for at `localhost` (the redirect URI's host),
//! not `127.0.0.1`; its error pages ("OpenID Connect Provider error: …") mostly answer 200, so look
//! at the body and `log()`; the discovery document is fetched at the first protected request (not
//! at start) and then cached for a day.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::url_encode;

const APACHE: &str = "/usr/sbin/apache2";
const MODULES: &str = "/usr/lib/apache2/modules";

/// The client registered at the provider, as the relying party knows it.
pub struct RelyingParty<'a> {
    /// The provider's issuer, e.g. `http://127.0.0.1:PORT`; discovery is read from
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

/// Apache with `mod_auth_openidc`, stopped when dropped.
pub struct Apache {
    child: Child,
    dir: tempfile::TempDir,
    /// `http://localhost:PORT`.
    pub base: String,
}

/// The configuration; `{DIR}`, `{PORT}` and the `{…}` values are filled in by `start`.
const CONFIG: &str = r#"ServerRoot "{DIR}"
DefaultRuntimeDir "{DIR}"
PidFile "{DIR}/apache2.pid"
Mutex file:{DIR} default
ErrorLog "{DIR}/error.log"
LogLevel warn auth_openidc:debug
# Only used when started as root: Apache refuses to serve as root, so it drops to daemon.
User daemon
Group daemon
Listen 127.0.0.1:{PORT}
ServerName localhost:{PORT}

LoadModule mpm_event_module {MODULES}/mod_mpm_event.so
LoadModule authn_core_module {MODULES}/mod_authn_core.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule authz_user_module {MODULES}/mod_authz_user.so
LoadModule auth_openidc_module {MODULES}/mod_auth_openidc.so
LoadModule include_module {MODULES}/mod_include.so
LoadModule mime_module {MODULES}/mod_mime.so
LoadModule dir_module {MODULES}/mod_dir.so

TypesConfig "{DIR}/mime.types"
AddType text/html .html .shtml
AddOutputFilter INCLUDES .shtml
DocumentRoot "{DIR}/htdocs"
DirectoryIndex index.shtml index.html
<Directory "{DIR}/htdocs">
    Options +IncludesNoExec
    Require all granted
</Directory>

OIDCProviderMetadataURL "{METADATA_URL}"
OIDCClientID "{CLIENT_ID}"
OIDCClientSecret "{CLIENT_SECRET}"
OIDCRedirectURI "http://localhost:{PORT}/protected/redirect_uri"
OIDCCryptoPassphrase "{PASSPHRASE}"
OIDCScope "openid email profile"
OIDCPKCEMethod S256
OIDCProviderTokenEndpointAuth client_secret_basic
OIDCSSLValidateServer Off
# SameSite=Lax on the state and session cookies. (Off sends no SameSite over http, and
# "SameSite=None; Secure" over https.) Over http they never carry Secure.
OIDCCookieSameSite On
OIDCRemoteUserClaim email
OIDCPassClaimsAs environment
# GET /protected/redirect_uri?info=json answers the session's ID token and userinfo claims.
OIDCInfoHook iat id_token userinfo

<Location /protected/>
    AuthType openid-connect
    Require valid-user
</Location>
"#;

/// The protected page: the claims through mod_include (`(none)` for a claim not there; arrays
/// such as `amr` are joined with commas).
const PROTECTED_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Protected app</title></head><body>
<h1>Protected app</h1>
<p>Signed in as <span id="email"><!--#echo var="OIDC_CLAIM_email" --></span></p>
<p>Remote user: <span id="remote-user"><!--#echo var="REMOTE_USER" --></span></p>
<p>Name: <span id="name"><!--#echo var="OIDC_CLAIM_name" --></span></p>
<p>amr: <span id="amr"><!--#echo var="OIDC_CLAIM_amr" --></span></p>
<p>acr: <span id="acr"><!--#echo var="OIDC_CLAIM_acr" --></span></p>
<p><a id="logout" href="{LOGOUT}">Sign out</a></p>
</body></html>
"#;

const BYE_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Signed out</title></head><body>
<p id="bye">Signed out of the protected app</p>
</body></html>
"#;

/// A value inside double quotes in Apache's configuration.
fn quoted(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

fn mkdir(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    // Readable by `daemon` when Apache started as root drops to it.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

impl Apache {
    /// Whether Apache and the module are here; says why not (or fails, in CI) otherwise.
    pub fn available() -> bool {
        let module = format!("{MODULES}/mod_auth_openidc.so");
        if !Path::new(APACHE).exists() || !Path::new(&module).exists() {
            super::skip(
                "the Apache mod_auth_openidc tests",
                "apache2 or mod_auth_openidc is not installed (apt-get install apache2 libapache2-mod-auth-openidc)",
            );
            return false;
        }
        true
    }

    /// The redirect URI an Apache started on `port` will use: the client is registered with
    /// it before Apache starts.
    pub fn redirect_uri_at(port: u16) -> String {
        format!("http://localhost:{port}/protected/redirect_uri")
    }

    /// The post-logout page of an Apache on `port`.
    pub fn post_logout_uri_at(port: u16) -> String {
        format!("http://localhost:{port}/bye.html")
    }

    /// Apache up and answering on `port`, or `None` (after saying why) when apache2 or
    /// mod_auth_openidc is not installed. The provider need not be up yet: discovery is read
    /// at the first request to `/protected/`.
    pub async fn start_at(rp: &RelyingParty<'_>, port: u16) -> Option<Apache> {
        if !Self::available() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        mkdir(root);
        mkdir(&root.join("htdocs/protected"));
        let base = format!("http://localhost:{port}");
        let passphrase = format!(
            "twofold-it-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        );
        let metadata_url = format!("{}/.well-known/openid-configuration", rp.issuer.trim_end_matches('/'));
        let config = CONFIG
            .replace("{DIR}", &root.display().to_string())
            .replace("{PORT}", &port.to_string())
            .replace("{MODULES}", MODULES)
            .replace("{METADATA_URL}", &quoted(&metadata_url))
            .replace("{CLIENT_ID}", &quoted(rp.client_id))
            .replace("{CLIENT_SECRET}", &quoted(rp.client_secret))
            .replace("{PASSPHRASE}", &passphrase);
        let conf = root.join("apache2.conf");
        write(&conf, &config);
        write(&root.join("mime.types"), "");
        let logout = format!("/protected/redirect_uri?logout={}", url_encode(&format!("{base}/bye.html")));
        write(&root.join("htdocs/protected/index.shtml"), &PROTECTED_PAGE.replace("{LOGOUT}", &logout));
        write(&root.join("htdocs/bye.html"), BYE_PAGE);

        let out = std::fs::File::create(root.join("apache.out")).unwrap();
        let child = Command::new(APACHE)
            .arg("-X")
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        let mut apache = Apache { child, dir, base };

        let client = super::client(false);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(apache.post_logout_uri()).send().await
                && r.status().is_success()
            {
                return Some(apache);
            }
            if let Ok(Some(status)) = apache.child.try_wait() {
                panic!("apache2 exited ({status}): {}", apache.log());
            }
            assert!(Instant::now() < deadline, "apache2 did not come up at {}: {}", apache.base, apache.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A public page on this Apache saying "Signed out of the protected app": the
    /// `post_logout_redirect_uri` to register (and that the page's sign-out link asks for).
    pub fn post_logout_uri(&self) -> String {
        format!("{}/bye.html", self.base)
    }

    /// The protected page: redirects to the provider, then shows the claims (`#email`,
    /// `#remote-user`, `#name`, `#amr`, `#acr`) and a sign-out link (`#logout`).
    pub fn protected_url(&self) -> String {
        format!("{}/protected/", self.base)
    }

    /// Apache's error log (with mod_auth_openidc's debug lines) and its own output.
    pub fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("apache.out"), read("error.log"))
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        // One process (-X); its shared memory is anonymous and its mutexes are files in the
        // temporary directory, so SIGKILL leaves nothing behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
