-- Instance tokens (SEC-50): made from the shell for what is above any account, such as a
-- SaaS back end creating an account with its Owner at sign-up (`accounts:write`). Only
-- the token's SHA-256 is kept; revoking deletes the row.
-- Keep in step with ../postgres/0019_instance_tokens.sql.
CREATE TABLE instance_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash    TEXT    NOT NULL UNIQUE,
    scopes        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
