-- Email beside SMS. One outbox for every channel: each message, whatever carries it, is a
-- row written in the transaction of the change it reports and sent by the same leasing
-- worker (SEC-18, SEC-39). The SMS outbox's rows move over with their ids, so the codes'
-- challenges keep pointing at their messages.
CREATE TABLE outbox (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id              INTEGER REFERENCES users (id) ON DELETE SET NULL,
    channel              TEXT    NOT NULL CHECK (channel IN ('sms', 'email')),
    -- An E.164 number or an email address.
    recipient            TEXT    NOT NULL,
    kind                 TEXT    NOT NULL CHECK (kind IN ('code', 'notice', 'invitation', 'password_reset')),
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
INSERT INTO outbox (id, user_id, channel, recipient, kind, body_box, status, attempts, next_attempt_at, lease_owner,
                    lease_until, provider, provider_message_id, provider_status, last_error, created_at, sent_at, failed_at)
SELECT id, user_id, 'sms', e164, kind, body_box, status, attempts, next_attempt_at, lease_owner,
       lease_until, provider, provider_message_id, provider_status, last_error, created_at, sent_at, failed_at
FROM sms_outbox;
DROP TABLE sms_outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_user ON outbox (user_id, id);

-- Forgotten-password links (SEC-37): stored hashed, used once (taken by DELETE … RETURNING),
-- an hour long, and all of a person's deleted whenever their password is set.
CREATE TABLE password_resets (
    token_hash  TEXT    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX password_resets_user ON password_resets (user_id);
