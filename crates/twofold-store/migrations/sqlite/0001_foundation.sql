-- Accounts, people, sessions, one-time links, throttles and the audit log.
-- Times are Unix seconds (UTC) in 64-bit integers: the sqlx Any driver has no timestamp
-- type, and integers compare and index the same way on SQLite and PostgreSQL.
-- Keep in step with ../postgres/0001_foundation.sql.

CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 400),
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       INTEGER NOT NULL REFERENCES accounts (id),
    email            TEXT    NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name             TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 400),
    role             TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'user')),
    -- NULL until the invitation is accepted.
    password_hash    TEXT,
    created_at       INTEGER NOT NULL,
    activated_at     INTEGER,
    last_sign_in_at  INTEGER
);
CREATE UNIQUE INDEX users_email_key ON users (email);
-- Exactly one Owner per account: at most one here, at least one by the transaction
-- that creates an account together with its Owner.
CREATE UNIQUE INDEX users_one_owner_per_account ON users (account_id) WHERE role = 'owner';
CREATE INDEX users_account ON users (account_id);

CREATE TABLE sessions (
    -- SHA-256 of the cookie value; the value itself is never stored.
    id_hash          TEXT    PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stage            TEXT    NOT NULL CHECK (stage IN ('second_factor', 'signed_in')),
    remember_device  INTEGER NOT NULL DEFAULT 0 CHECK (remember_device IN (0, 1)),
    created_at       INTEGER NOT NULL,
    last_seen_at     INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    ip               TEXT,
    user_agent       TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE setup_tokens (
    token_hash  TEXT    PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

CREATE TABLE invitations (
    token_hash  TEXT    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    invited_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX invitations_user ON invitations (user_id);

-- Consecutive failures per subject ("password:<email>", "totp:<user id>", …).
CREATE TABLE throttles (
    subject      TEXT    PRIMARY KEY,
    consecutive  INTEGER NOT NULL,
    last_at      INTEGER NOT NULL
);

CREATE TABLE audit_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      INTEGER,
    actor_user_id   INTEGER,
    target_user_id  INTEGER,
    event           TEXT    NOT NULL,
    detail          TEXT    NOT NULL DEFAULT '{}',
    ip              TEXT,
    user_agent      TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX audit_events_account ON audit_events (account_id, id);
CREATE INDEX audit_events_target ON audit_events (target_user_id, id);

-- The audit log is append-only: the database itself refuses edits and deletions.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
