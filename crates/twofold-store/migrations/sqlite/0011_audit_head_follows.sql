-- The chain head's last hash follows each new event inside the INSERT itself, so that an
-- append is two statements (take the next place, write the event) instead of three. Its
-- `seq = NEW.seq` condition keeps it from moving a head to an event that is not its newest.
-- Keep in step with ../postgres/0011_audit_head_follows.sql.

CREATE TRIGGER audit_events_move_head AFTER INSERT ON audit_events
WHEN NEW.seq IS NOT NULL
BEGIN
    UPDATE audit_chain_heads SET last_hash = NEW.hash
    WHERE chain = COALESCE(NEW.account_id, 0) AND seq = NEW.seq;
END;
