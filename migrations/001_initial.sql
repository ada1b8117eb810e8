-- ich-triage schema, version 1. Times are milliseconds since the Unix epoch (UTC).

-- One row per received SOP instance; the spool file is at dataDir/path.
CREATE TABLE instances (
  sop_instance_uid TEXT PRIMARY KEY,
  sop_class_uid    TEXT NOT NULL,
  series_uid       TEXT NOT NULL,
  study_uid        TEXT NOT NULL,
  transfer_syntax  TEXT NOT NULL,
  calling_ae       TEXT NOT NULL,
  peer_address     TEXT,
  received_at      INTEGER NOT NULL,
  path             TEXT NOT NULL,
  size             INTEGER NOT NULL,
  instance_number  INTEGER,
  z                REAL,           -- position along the slice normal (mm)
  tilt_deg         REAL,           -- angle between the slice normal and the patient's z axis
  image_type       TEXT,           -- ImageType values joined with '\'
  -- received: waiting for classification; classified; skipped (not for classification, see
  -- skip_reason); failed (could not be decoded or classified, see error)
  state            TEXT NOT NULL DEFAULT 'received'
                   CHECK (state IN ('received', 'classified', 'skipped', 'failed')),
  skip_reason      TEXT,
  error            TEXT,
  processed_at     INTEGER,
  spool_deleted_at INTEGER
);
CREATE INDEX instances_series ON instances (series_uid);
CREATE INDEX instances_pending ON instances (state) WHERE state = 'received';

-- Per-slice model output, one row per instance.
CREATE TABLE slice_results (
  sop_instance_uid TEXT PRIMARY KEY REFERENCES instances (sop_instance_uid) ON DELETE CASCADE,
  series_uid       TEXT NOT NULL,
  probs            TEXT NOT NULL,  -- JSON array in the model's class order
  model_sha256     TEXT NOT NULL,
  model_version    TEXT NOT NULL,
  preprocess_ms    REAL NOT NULL,
  inference_ms     REAL NOT NULL,  -- this slice's share of its batch
  created_at       INTEGER NOT NULL
);
CREATE INDEX slice_results_series ON slice_results (series_uid);

-- One row per series; attributes shared by the series are taken from its first instance.
CREATE TABLE series (
  series_uid         TEXT PRIMARY KEY,
  study_uid          TEXT NOT NULL,
  modality           TEXT,
  series_description TEXT,
  contrast_agent     TEXT,
  accession_number   TEXT,
  expected_slices    INTEGER,
  first_received_at  INTEGER NOT NULL,
  last_received_at   INTEGER NOT NULL,
  -- open: receiving or classifying; decided: result stored; skipped: not classified as a
  -- series, see skip_reason
  state              TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'decided', 'skipped')),
  -- a slice arriving after the decision reopens the series; each decision has its own revision
  revision           INTEGER NOT NULL DEFAULT 0,
  skip_reason        TEXT,
  decision           TEXT CHECK (decision IN ('urgent', 'negative')),
  result             TEXT,           -- JSON: scores, thresholds, flagged classes, key slices, timings
  model_sha256       TEXT,
  model_version      TEXT,
  decided_at         INTEGER,
  early_alert_at     INTEGER
);
CREATE INDEX series_state ON series (state);

-- Durable outbox: one row per (series, output, destination); the unique key makes every output
-- exist once whatever restarts happen.
CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY,
  key             TEXT NOT NULL UNIQUE,
  series_uid      TEXT,
  kind            TEXT NOT NULL,     -- sr | kos | email | early-email | forward
  destination     TEXT NOT NULL,
  payload_path    TEXT,              -- DICOM payloads, relative to dataDir
  payload         TEXT,              -- JSON for emails
  state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error      TEXT,
  last_status     INTEGER,           -- DICOM status of the last C-STORE response
  created_at      INTEGER NOT NULL,
  sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
