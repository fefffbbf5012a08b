-- RADIUS (VPNs, Wi-Fi, SSH through PAM): the clients allowed to ask, the challenges they
-- are answering, and the requests already answered (retransmissions get the same answer).
-- Keep in step with ../postgres/0015_radius.sql.
CREATE TABLE radius_clients (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    -- An address or a CIDR block; requests are matched to a client by source address.
    address       TEXT    NOT NULL,
    -- The shared secret sealed with AES-256-GCM (SEC-53): never plaintext.
    secret_box    BLOB    NOT NULL,
    -- Limits the client to one account's people; NULL for every account.
    account_id    INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
    mode          TEXT    NOT NULL CHECK (mode IN ('challenge', 'append')),
    allow_one_factor  INTEGER NOT NULL DEFAULT 0,
    -- Accepts requests without Message-Authenticator (old PAM modules; BlastRADIUS risk).
    legacy_no_message_authenticator  INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

-- A password accepted in challenge mode, waiting for the code: the State's hash, taken
-- once by DELETE … RETURNING, so any instance may receive the answer.
CREATE TABLE radius_challenges (
    state_hash    TEXT    PRIMARY KEY,
    client_id     INTEGER NOT NULL REFERENCES radius_clients (id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The code was sent by SMS under support's recovery grant.
    by_sms        INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX radius_challenges_by_expiry ON radius_challenges (expires_at);

-- Requests seen in the last seconds, by a digest of client, source, identifier and
-- request authenticator: the first claims the row, a retransmission gets its sealed reply.
CREATE TABLE radius_requests (
    request_key   TEXT    PRIMARY KEY,
    reply_box     BLOB,
    created_at    INTEGER NOT NULL
);
CREATE INDEX radius_requests_by_age ON radius_requests (created_at);
