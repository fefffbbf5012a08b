-- Recovery codes, security keys and passkeys (WebAuthn), and the ceremonies in flight.
-- Keep in step with ../postgres/0008_more_factors.sql.

-- One person's current set of ten recovery codes (SEC-35). Only a keyed hash of each code
-- is kept; a new set deletes the old one, a use stamps `used_at` once.
CREATE TABLE recovery_codes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_mac    TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX recovery_codes_by_user ON recovery_codes (user_id);

-- A registered security key or passkey (SEC-36). `credential_id` is the authenticator's
-- id, base64url, unique across everyone: a credential is bound to one person.
-- `credential` is webauthn-rs's record of it (public key, counter, flags) as JSON.
CREATE TABLE webauthn_credentials (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id  TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    passkey        INTEGER NOT NULL CHECK (passkey IN (0, 1)),
    credential     TEXT    NOT NULL,
    sign_count     INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER
);
CREATE INDEX webauthn_credentials_by_user ON webauthn_credentials (user_id);

-- A WebAuthn ceremony begun and not yet finished: single use (deleted when finished),
-- bound to the session that asked, five minutes at most. Any instance can finish it.
CREATE TABLE webauthn_challenges (
    id_hash       TEXT    PRIMARY KEY,
    purpose       TEXT    NOT NULL CHECK (purpose IN ('register', 'second_step', 'passkey')),
    session_hash  TEXT    NOT NULL,
    user_id       INTEGER REFERENCES users (id) ON DELETE CASCADE,
    state         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX webauthn_challenges_by_expiry ON webauthn_challenges (expires_at);
