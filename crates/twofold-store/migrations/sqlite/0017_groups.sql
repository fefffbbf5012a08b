-- Named groups of an account's people, for applications: the OIDC `groups` claim,
-- forward auth's Remote-Groups and its rules.
-- Keep in step with ../postgres/0017_groups.sql.
CREATE TABLE groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    created_at  INTEGER NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE group_members (
    group_id    INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_by_user ON group_members (user_id);
