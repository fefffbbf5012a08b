-- API tokens (SEC-50): an account's Owner makes them for scripts and back ends. Only the
-- token's SHA-256 is kept; it acts as the person who made it, within its scopes, until
-- it expires or is revoked (deleted), and goes with that person.
-- Keep in step with ../postgres/0018_api_tokens.sql.
CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_by    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash    TEXT    NOT NULL UNIQUE,
    scopes        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX api_tokens_by_account ON api_tokens (account_id);
CREATE INDEX api_tokens_by_creator ON api_tokens (created_by);
