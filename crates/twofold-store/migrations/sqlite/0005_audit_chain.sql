-- Tamper-evident audit log: a hash chain per account.
-- Every event carries its place in its account's chain (`seq`, from 1), the hash of the
-- event before it, and its own hash over both: editing or deleting any event breaks the
-- chain at that event. Events without an account form chain 0. Rows written before this
-- migration keep NULLs: `twofold audit verify` starts at each chain's first hashed row.
-- Keep in step with ../postgres/0005_audit_chain.sql.

ALTER TABLE audit_events ADD COLUMN seq INTEGER;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;

-- One place per chain: concurrent appends that raced past the head could never both land.
CREATE UNIQUE INDEX audit_events_chain_seq ON audit_events (COALESCE(account_id, 0), seq)
    WHERE seq IS NOT NULL;

-- The newest link of each chain. Appends update this row first, which serialises them
-- (the write lock here, the row lock on PostgreSQL); verification compares it with the
-- last event, so deleting the newest events is seen too.
CREATE TABLE audit_chain_heads (
    chain      INTEGER PRIMARY KEY,  -- the account id, 0 for events without an account
    seq        INTEGER NOT NULL CHECK (seq >= 0),
    last_hash  TEXT    NOT NULL
);

-- A head only moves forward and is never removed.
CREATE TRIGGER audit_chain_heads_forward_only BEFORE UPDATE ON audit_chain_heads
WHEN NEW.chain <> OLD.chain OR NEW.seq < OLD.seq
BEGIN SELECT RAISE(ABORT, 'audit_chain_heads only moves forward'); END;
CREATE TRIGGER audit_chain_heads_no_delete BEFORE DELETE ON audit_chain_heads
BEGIN SELECT RAISE(ABORT, 'audit_chain_heads only moves forward'); END;
