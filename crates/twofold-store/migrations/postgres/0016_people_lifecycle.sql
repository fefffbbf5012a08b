-- People who leave: a deactivated person keeps their row (and the audit log keeps naming
-- them) but cannot sign in anywhere until reactivated.
-- Keep in step with ../sqlite/0016_people_lifecycle.sql.
ALTER TABLE users ADD COLUMN deactivated_at BIGINT;
