-- One credential and session model over the two realms (people and support operators):
-- operators' authenticator apps move to a table of the same shape as people's, and their
-- sessions gain the columns people's have, so that one set of functions serves both.
-- Keep in step with ../sqlite/0007_realms.sql.

CREATE TABLE operator_totp_credentials (
    operator_id   BIGINT PRIMARY KEY REFERENCES operators (id) ON DELETE CASCADE,
    secret_box    BYTEA  NOT NULL,
    created_at    BIGINT NOT NULL,
    enabled_at    BIGINT,
    last_step     BIGINT,
    confirmed_at  BIGINT
);
INSERT INTO operator_totp_credentials (operator_id, secret_box, created_at, enabled_at, last_step, confirmed_at)
    SELECT id, totp_box, created_at, totp_enabled_at, totp_last_step, totp_enabled_at
    FROM operators WHERE totp_box IS NOT NULL;
ALTER TABLE operators DROP COLUMN totp_box;
ALTER TABLE operators DROP COLUMN totp_enabled_at;
ALTER TABLE operators DROP COLUMN totp_last_step;

ALTER TABLE operator_sessions ADD COLUMN remember_device BIGINT NOT NULL DEFAULT 0 CHECK (remember_device IN (0, 1));
ALTER TABLE operator_sessions ADD COLUMN method TEXT;
CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at);
