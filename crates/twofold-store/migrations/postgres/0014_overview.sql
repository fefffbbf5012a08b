-- The Overview reads the audit log by account, event and time (sign-ins per day, 2FA
-- turned on and off, applications signed in to): one index serves them all.
-- Keep in step with ../sqlite/0014_overview.sql.
CREATE INDEX IF NOT EXISTS audit_events_account_event_time ON audit_events (account_id, event, created_at);
