#!/usr/bin/env python3
"""Sign in through Twofold from a script, with Authlib (a common OpenID Connect library).

    python3 oidc_client.py https://auth.example.com CLIENT_ID CLIENT_SECRET [--port 8765]

Register the application first with the redirect URI http://127.0.0.1:PORT/callback:

    twofold oidc client add --name "My script" --redirect-uri http://127.0.0.1:8765/callback

The script prints a URL to open in a browser, waits for Twofold to send the browser back
(after the password and the second factor), redeems the code with PKCE, verifies the ID
token against Twofold's published keys, reads userinfo, and prints both as JSON.
Debian: apt-get install python3-authlib python3-requests.
"""

import argparse
import http.server
import json
import secrets
import sys
import urllib.parse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, JsonWebToken


def wait_for_callback(port: int, timeout: float) -> dict:
    """Serves one request on 127.0.0.1:port/callback and answers its query parameters."""
    received = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/callback":
                self.send_error(404)
                return
            received.update(dict(urllib.parse.parse_qsl(url.query)))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"Signed in. You can close this window.\n")

        def log_message(self, *args):
            pass

    with http.server.HTTPServer(("127.0.0.1", port), Handler) as server:
        server.timeout = timeout
        while not received:
            server.handle_request()
            if not received:
                sys.exit("no sign-in arrived in time")
    return received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("issuer")
    parser.add_argument("client_id")
    parser.add_argument("client_secret")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()

    issuer = args.issuer.rstrip("/")
    discovery = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    if discovery["issuer"] != issuer:
        sys.exit(f"issuer mismatch: {discovery['issuer']}")

    redirect_uri = f"http://127.0.0.1:{args.port}/callback"
    session = OAuth2Session(
        args.client_id,
        args.client_secret,
        scope="openid email profile",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = generate_token(64)
    nonce = secrets.token_urlsafe(16)
    url, state = session.create_authorization_url(
        discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    print(f"Open this URL to sign in: {url}", flush=True)

    callback = wait_for_callback(args.port, args.timeout)
    if callback.get("state") != state:
        sys.exit("the state that came back is not the one sent")
    if "error" in callback:
        sys.exit(f"sign-in refused: {callback['error']}: {callback.get('error_description', '')}")
    if callback.get("iss", issuer) != issuer:
        sys.exit("the authorization response names another issuer (mix-up)")

    token = session.fetch_token(
        discovery["token_endpoint"], code=callback["code"], code_verifier=verifier
    )
    keys = JsonWebKey.import_key_set(requests.get(discovery["jwks_uri"], timeout=10).json())
    # Only the algorithms the provider signs with (ES256, RS256): never `none` or HS256.
    jwt = JsonWebToken(discovery["id_token_signing_alg_values_supported"])
    claims = jwt.decode(
        token["id_token"],
        keys,
        claims_options={
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": args.client_id},
            "nonce": {"essential": True, "value": nonce},
        },
    )
    claims.validate()
    userinfo = session.get(discovery["userinfo_endpoint"], timeout=10).json()
    out = {"id_token": dict(claims), "id_token_alg": claims.header["alg"], "userinfo": userinfo}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
