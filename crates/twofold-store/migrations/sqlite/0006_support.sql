-- Customer Success: support operators (a realm outside every account), SMS recovery
-- grants, and recovery requests from people who lost their device.
-- Keep in step with ../postgres/0006_support.sql.

CREATE TABLE operators (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    email            TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    password_hash    TEXT    NOT NULL,
    -- Mandatory TOTP (SEC-29): enrolled at the first sign-in, sealed like people's secrets.
    totp_box         BLOB,
    totp_enabled_at  INTEGER,
    totp_last_step   INTEGER,
    created_at       INTEGER NOT NULL,
    last_sign_in_at  INTEGER
);
CREATE UNIQUE INDEX operators_email_key ON operators (email);

CREATE TABLE operator_sessions (
    id_hash       TEXT    PRIMARY KEY,
    operator_id   INTEGER NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    stage         TEXT    NOT NULL CHECK (stage IN ('second_factor', 'signed_in')),
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    ip            TEXT,
    user_agent    TEXT
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);

-- "Use SMS as your secondary verification method?" for 48 hours (SEC-17).
CREATE TABLE recovery_grants (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    operator_id  INTEGER REFERENCES operators (id) ON DELETE SET NULL,
    reason       TEXT    NOT NULL CHECK (length(reason) BETWEEN 3 AND 500),
    request_id   INTEGER,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    closed_at    INTEGER,
    closed_why   TEXT    CHECK (closed_why IN ('revoked', 'two_factor_disabled', 're_enrolled', 'replaced'))
);
-- One open grant per person.
CREATE UNIQUE INDEX recovery_grants_one_open ON recovery_grants (user_id) WHERE closed_at IS NULL;

CREATE TABLE recovery_requests (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message         TEXT    NOT NULL,
    contact         TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('open', 'taken', 'granted', 'declined')),
    operator_id     INTEGER REFERENCES operators (id) ON DELETE SET NULL,
    identity_check  TEXT,
    decision_note   TEXT,
    created_at      INTEGER NOT NULL,
    taken_at        INTEGER,
    decided_at      INTEGER
);
CREATE INDEX recovery_requests_status ON recovery_requests (status, created_at);
CREATE INDEX recovery_requests_user ON recovery_requests (user_id, id);

-- How a session was completed: an SMS-recovery sign-in leads to re-enrolment.
ALTER TABLE sessions ADD COLUMN method TEXT;
