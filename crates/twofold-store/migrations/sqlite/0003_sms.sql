-- Phone numbers, SMS codes, the durable SMS outbox, and send-rate counters.
-- Keep in step with ../postgres/0003_sms.sql.

-- Step 3 of the wizard (the app code) is confirmed before Step 4 (the phone) turns 2FA on.
ALTER TABLE totp_credentials ADD COLUMN confirmed_at INTEGER;

-- The verified mobile number of a person, in E.164 (SEC-11).
CREATE TABLE phone_numbers (
    user_id      INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    e164         TEXT    NOT NULL CHECK (length(e164) BETWEEN 8 AND 16),
    verified_at  INTEGER NOT NULL
);

-- One SMS code sent for one purpose and one request (SEC-12, SEC-13). Only a keyed hash
-- of the code is kept.
CREATE TABLE sms_challenges (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose        TEXT    NOT NULL CHECK (purpose IN ('phone_verification', 'phone_change', 'sign_in')),
    -- What the code is bound to, e.g. the half-finished sign-in it belongs to.
    request_ref    TEXT    NOT NULL,
    e164           TEXT    NOT NULL,
    code_mac       TEXT    NOT NULL,
    outbox_id      INTEGER,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    -- Set once: used, or replaced by a resend (SEC-14).
    closed_at      INTEGER,
    closed_why     TEXT    CHECK (closed_why IN ('used', 'resent', 'too_many_attempts'))
);
CREATE INDEX sms_challenges_open ON sms_challenges (user_id, purpose, request_ref, closed_at);

-- Every SMS, written in the same transaction as the code it carries, sent by a worker
-- (SEC-18). The body is sealed at rest and wiped once the message is sent or given up.
CREATE TABLE sms_outbox (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id              INTEGER REFERENCES users (id) ON DELETE SET NULL,
    e164                 TEXT    NOT NULL,
    kind                 TEXT    NOT NULL CHECK (kind IN ('code', 'notice')),
    body_box             BLOB    NOT NULL,
    status               TEXT    NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts             INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      INTEGER NOT NULL,
    lease_owner          TEXT,
    lease_until          INTEGER,
    provider             TEXT,
    provider_message_id  TEXT,
    provider_status      TEXT,
    last_error           TEXT,
    created_at           INTEGER NOT NULL,
    sent_at              INTEGER,
    failed_at            INTEGER
);
CREATE INDEX sms_outbox_due ON sms_outbox (status, next_attempt_at);
CREATE INDEX sms_outbox_user ON sms_outbox (user_id, id);

-- Send limits per person and per number: a cooldown and an hourly cap (SEC-15).
CREATE TABLE rate_limits (
    subject       TEXT    PRIMARY KEY,
    window_start  INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    last_at       INTEGER NOT NULL
);
