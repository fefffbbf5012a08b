-- Authenticator-app second factor and remembered browsers.
-- Keep in step with ../postgres/0002_two_factor.sql.

CREATE TABLE totp_credentials (
    user_id       INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The secret sealed with AES-256-GCM, bound to this user (SEC-10): never plaintext.
    secret_box    BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    -- NULL while the enrolment wizard is unfinished: 2FA is off until then (SEC-04).
    enabled_at    INTEGER,
    -- The highest time step ever accepted: codes for it and earlier are replays (SEC-05).
    last_step     INTEGER
);

CREATE TABLE remembered_devices (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the device cookie (SEC-20).
    token_hash    TEXT    NOT NULL,
    user_agent    TEXT,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX remembered_devices_token ON remembered_devices (token_hash);
CREATE INDEX remembered_devices_user ON remembered_devices (user_id);
