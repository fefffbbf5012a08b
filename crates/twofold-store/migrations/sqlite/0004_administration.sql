-- Account policy, in-app notices.
-- Keep in step with ../postgres/0004_administration.sql.

-- The Owner can require 2FA of everyone: since when, and how many days people have to
-- comply before they cannot skip the wizard.
ALTER TABLE accounts ADD COLUMN require_two_factor_since INTEGER;
ALTER TABLE accounts ADD COLUMN two_factor_grace_days INTEGER NOT NULL DEFAULT 0;

-- Messages shown to a person at their next sign-in ("Your administrator … turned off …").
CREATE TABLE notices (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    seen_at     INTEGER
);
CREATE INDEX notices_user ON notices (user_id, seen_at);
