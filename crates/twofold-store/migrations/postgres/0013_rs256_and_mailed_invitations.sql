-- RS256 beside ES256, per application; and invitations whose mailed link proves the address.
-- Keep in step with ../sqlite/0013_rs256_and_mailed_invitations.sql.

-- The signing keys may be RSA too.
ALTER TABLE oidc_keys DROP CONSTRAINT oidc_keys_alg_check;
ALTER TABLE oidc_keys ADD CONSTRAINT oidc_keys_alg_check CHECK (alg IN ('ES256', 'RS256'));

-- `id_token_signed_response_alg` of OpenID Connect Dynamic Registration §2.
ALTER TABLE oidc_clients ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT 'ES256'
    CHECK (id_token_alg IN ('ES256', 'RS256'));

-- An invitation has two links to the same person: the one mailed to the address (`mailed`
-- = 1) and the one shown once to the inviter. Using the mailed one proves the mailbox;
-- using the shown one does not. Either ends both. Older invitations had one link, both
-- mailed and shown: 0.
ALTER TABLE invitations ADD COLUMN mailed BIGINT NOT NULL DEFAULT 0 CHECK (mailed IN (0, 1));
