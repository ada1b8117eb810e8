-- Retention reads only what it may delete. It scanned every instance and every report row at each
-- run (every 10 minutes): with 1,000,000 instances over 30 days, 120 ms for the spool files due,
-- 56-70 ms for the report payloads (all of them again, deleted or not) and 215-226 ms for the
-- prune, all on the event loop. Of what ingest writes, only routing's forwards enter one of them.

-- Spool files still on disk of processed instances, by when they were processed.
CREATE INDEX instances_spooled ON instances (processed_at) WHERE spool_deleted_at IS NULL AND processed_at IS NOT NULL;
-- Outputs still to send, by payload: a spool file stays while a forward of it is pending (the
-- outbox_due index made each candidate file walk every pending row: a PACS down for a day with
-- routing on would leave 100,000s of them).
CREATE INDEX outbox_pending_payloads ON outbox (payload_path) WHERE state = 'pending';
-- Rows whose spool file is gone, by arrival: what the prune after storage.retainDays removes.
CREATE INDEX instances_prunable ON instances (received_at) WHERE spool_deleted_at IS NOT NULL;

-- A report payload is deleted once, and then no longer listed.
ALTER TABLE outbox ADD COLUMN payload_deleted_at INTEGER;
CREATE INDEX outbox_payloads ON outbox (created_at) WHERE kind IN ('sr', 'kos') AND payload_path IS NOT NULL AND payload_deleted_at IS NULL;
