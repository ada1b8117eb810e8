-- Outputs due to be sent, results (SR, KOS, email) apart from forwards, each by when it is due:
-- the dispatcher asks for the first hundred due, results first, and the index on
-- (state, next_attempt_at) made SQLite sort every due row by kind at each turn (17.8 ms with
-- 100,000 forwards due, as after a PACS outage with routing on).
CREATE INDEX outbox_due_results ON outbox (next_attempt_at) WHERE state = 'pending' AND kind != 'forward';
CREATE INDEX outbox_due_forwards ON outbox (next_attempt_at) WHERE state = 'pending' AND kind = 'forward';
