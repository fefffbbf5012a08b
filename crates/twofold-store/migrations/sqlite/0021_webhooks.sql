-- Webhooks (SEC-51): an account's audit events sent, signed, to URLs its Owner chose.
-- `last_event_id` is the newest audit event of the account already queued: the dispatcher
-- moves it forward in the transaction that queues the events after it, so each is queued
-- once. The outbox carries the deliveries (channel `webhook`, kind `event`), and every
-- attempt is logged for the Owner in `webhook_deliveries`.
-- Keep in step with ../postgres/0021_webhooks.sql.
CREATE TABLE webhooks (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    url            TEXT    NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
    events         TEXT    NOT NULL,
    secret_box     BLOB    NOT NULL,
    created_by     INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at     INTEGER NOT NULL,
    last_event_id  INTEGER NOT NULL
);
CREATE INDEX webhooks_by_account ON webhooks (account_id);

CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id  INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    message_id  TEXT    NOT NULL,
    event       TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    status      INTEGER,
    error       TEXT,
    at          INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);

-- The outbox's CHECKs name its channels and kinds: SQLite changes them by copying the table.
CREATE TABLE outbox_new (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id              INTEGER REFERENCES users (id) ON DELETE SET NULL,
    channel              TEXT    NOT NULL CHECK (channel IN ('sms', 'email', 'webhook')),
    -- An E.164 number, an email address or a webhook's URL.
    recipient            TEXT    NOT NULL,
    kind                 TEXT    NOT NULL CHECK (kind IN ('code', 'notice', 'invitation', 'password_reset', 'event')),
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
INSERT INTO outbox_new SELECT * FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_user ON outbox (user_id, id);
