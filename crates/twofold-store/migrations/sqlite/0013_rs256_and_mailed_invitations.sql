-- RS256 beside ES256, per application; and invitations whose mailed link proves the address.
-- Keep in step with ../postgres/0013_rs256_and_mailed_invitations.sql.

-- The signing keys may be RSA too: SQLite changes a CHECK only by copying the table.
CREATE TABLE oidc_keys_new (
    kid         TEXT    PRIMARY KEY,
    alg         TEXT    NOT NULL CHECK (alg IN ('ES256', 'RS256')),
    secret_box  BLOB    NOT NULL,
    public_jwk  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);
INSERT INTO oidc_keys_new (kid, alg, secret_box, public_jwk, created_at, retired_at)
    SELECT kid, alg, secret_box, public_jwk, created_at, retired_at FROM oidc_keys;
DROP TABLE oidc_keys;
ALTER TABLE oidc_keys_new RENAME TO oidc_keys;
CREATE UNIQUE INDEX oidc_keys_one_signing ON oidc_keys (alg) WHERE retired_at IS NULL;

-- `id_token_signed_response_alg` of OpenID Connect Dynamic Registration §2.
ALTER TABLE oidc_clients ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT 'ES256'
    CHECK (id_token_alg IN ('ES256', 'RS256'));

-- An invitation has two links to the same person: the one mailed to the address (`mailed`
-- = 1) and the one shown once to the inviter. Using the mailed one proves the mailbox;
-- using the shown one does not. Either ends both. Older invitations had one link, both
-- mailed and shown: 0.
ALTER TABLE invitations ADD COLUMN mailed INTEGER NOT NULL DEFAULT 0 CHECK (mailed IN (0, 1));
