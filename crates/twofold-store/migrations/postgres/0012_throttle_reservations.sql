-- Guesses in flight (SEC-47): a guess takes its place in every budget it is judged by before
-- it is checked, so that concurrent guesses see each other. `pending` counts the places
-- taken and not yet given back; `pending_at` is when the last was taken, so that places a
-- crashed request never gave back are forgotten after a minute.
-- Keep in step with ../sqlite/0012_throttle_reservations.sql.
ALTER TABLE throttles ADD COLUMN pending BIGINT NOT NULL DEFAULT 0;
ALTER TABLE throttles ADD COLUMN pending_at BIGINT NOT NULL DEFAULT 0;
