-- Twofold as an OpenID Provider (SEC-40, SEC-41, SEC-42).
-- Keep in step with ../postgres/0010_oidc.sql.

-- ID-token signing keys. The private half is sealed like every other secret (purpose
-- `oidc_signing_key`); the public half is kept as the JWK the JWKS endpoint serves. One
-- key signs at a time; a rotation retires it, and it stays published for an overlap.
CREATE TABLE oidc_keys (
    kid         TEXT    PRIMARY KEY,
    alg         TEXT    NOT NULL CHECK (alg IN ('ES256')),
    secret_box  BLOB    NOT NULL,
    public_jwk  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);
CREATE UNIQUE INDEX oidc_keys_one_signing ON oidc_keys (alg) WHERE retired_at IS NULL;

-- Registered applications. Without an account they serve every account of the instance;
-- with one, only its people. A public client has no secret; a confidential one keeps the
-- SHA-256 of a 256-bit secret.
CREATE TABLE oidc_clients (
    client_id                  TEXT    PRIMARY KEY,
    name                       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 400),
    account_id                 INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
    secret_hash                TEXT,
    -- One URI per line, matched exactly.
    redirect_uris              TEXT    NOT NULL,
    post_logout_redirect_uris  TEXT    NOT NULL DEFAULT '',
    require_two_factor         INTEGER NOT NULL DEFAULT 0 CHECK (require_two_factor IN (0, 1)),
    created_at                 INTEGER NOT NULL,
    secret_rotated_at          INTEGER
);
CREATE INDEX oidc_clients_account ON oidc_clients (account_id);

-- One sign-in of a person to an application: the codes and tokens it issues belong to it,
-- and revoking it (refresh reuse, a code replay, 2FA off, a password change) ends them all.
CREATE TABLE oidc_grants (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id     TEXT    NOT NULL REFERENCES oidc_clients (client_id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The Twofold session that signed in (its hash); not a foreign key: with
    -- offline_access the grant outlives the session.
    session_hash  TEXT    NOT NULL,
    scope         TEXT    NOT NULL,
    nonce         TEXT,
    auth_time     INTEGER NOT NULL,
    -- How the session signed in: the ID token's amr and acr.
    method        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    revoked_why   TEXT
);
CREATE INDEX oidc_grants_user ON oidc_grants (user_id);
CREATE INDEX oidc_grants_session ON oidc_grants (session_hash);

-- Authorization codes, hashed; taken once by a conditional update, and kept until expiry so
-- that a second redemption is known as a replay.
CREATE TABLE oidc_codes (
    code_hash       TEXT    PRIMARY KEY,
    grant_id        INTEGER NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    redirect_uri    TEXT    NOT NULL,
    code_challenge  TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER
);
CREATE INDEX oidc_codes_expiry ON oidc_codes (expires_at);

-- Access and refresh tokens, hashed. `used_at` marks a refresh token rotated (a second use
-- is reuse) or an access token revoked.
CREATE TABLE oidc_tokens (
    token_hash  TEXT    PRIMARY KEY,
    grant_id    INTEGER NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('access', 'refresh')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX oidc_tokens_grant ON oidc_tokens (grant_id);
CREATE INDEX oidc_tokens_expiry ON oidc_tokens (expires_at);

-- When the person proved they read mail at their address (they used a link that only the
-- mailbox received: a password reset). An invitation's link is also shown to the inviter,
-- so accepting it proves nothing; the ID token's `email_verified` says this.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
