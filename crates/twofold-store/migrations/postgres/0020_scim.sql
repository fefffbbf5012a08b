-- SCIM 2.0 provisioning: what a directory knows a person or group by. `scim_user_name` is
-- the directory's userName when it is not the email (NULL: the email is the userName);
-- `external_id` the directory's own id; the name's parts as the directory sent them;
-- `modified_at` for meta.lastModified.
-- Keep in step with ../sqlite/0020_scim.sql.
ALTER TABLE users ADD COLUMN scim_user_name TEXT;
ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN given_name TEXT;
ALTER TABLE users ADD COLUMN family_name TEXT;
ALTER TABLE users ADD COLUMN modified_at BIGINT;
CREATE UNIQUE INDEX users_scim_user_name ON users (account_id, lower(scim_user_name)) WHERE scim_user_name IS NOT NULL;
-- A page of the account's people in id order stops after its rows instead of reading
-- and sorting the whole account.
CREATE INDEX users_account_id ON users (account_id, id);
CREATE INDEX users_external_id ON users (account_id, external_id) WHERE external_id IS NOT NULL;
ALTER TABLE groups ADD COLUMN external_id TEXT;
ALTER TABLE groups ADD COLUMN modified_at BIGINT;
