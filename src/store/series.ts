import type { Db } from './db.js';
import type { SeriesResult } from '../series/result.js';
import type { SeriesAttributes } from './instances.js';

export interface SeriesRow extends SeriesAttributes {
  firstReceivedAt: number;
  lastReceivedAt: number;
  state: 'open' | 'decided' | 'skipped';
  revision: number;
  skipReason: string | null;
  decision: 'urgent' | 'negative' | null;
  result: string | null;
  modelSha256: string | null;
  modelVersion: string | null;
  decidedAt: number | null;
  earlyAlertAt: number | null;
}

/** One instance of a series with its classification, for decisions and `series show`. */
export interface SeriesSlice {
  sopInstanceUid: string;
  sopClassUid: string;
  instanceNumber: number | null;
  z: number | null;
  tiltDeg: number | null;
  imageType: string | null;
  state: 'received' | 'classified' | 'skipped' | 'failed';
  skipReason: string | null;
  error: string | null;
  path: string;
  receivedAt: number;
  probs: string | null;
  modelSha256: string | null;
  preprocessMs: number | null;
  inferenceMs: number | null;
}

const seriesColumns = `series_uid AS seriesUid, study_uid AS studyUid, modality, series_description AS seriesDescription,
  contrast_agent AS contrastAgent, accession_number AS accessionNumber, expected_slices AS expectedSlices,
  first_received_at AS firstReceivedAt, last_received_at AS lastReceivedAt, state, revision, skip_reason AS skipReason,
  decision, result, model_sha256 AS modelSha256, model_version AS modelVersion, decided_at AS decidedAt,
  early_alert_at AS earlyAlertAt`;

export class SeriesStore {
  private readonly due;
  private readonly slices;
  private readonly byUid;
  private readonly recent;
  private readonly decide;
  private readonly skip;
  private readonly early;

  constructor(readonly db: Db) {
    // Complete: idle long enough, or every expected slice is here; and nothing left to classify.
    // The idle test comes first: while slices stream in, most open series fail it cheaply. The
    // NOT EXISTS reads the series' own instances: SQLite took the partial index of waiting slices
    // and walked all of them for every open series (with 4,800 waiting, seconds of event loop).
    this.due = db.prepare(`SELECT ${seriesColumns} FROM series s WHERE state = 'open'
      AND (last_received_at <= @idleBefore
        OR (expected_slices IS NOT NULL AND expected_slices <= (SELECT count(*) FROM instances i WHERE i.series_uid = s.series_uid)))
      AND NOT EXISTS (SELECT 1 FROM instances i INDEXED BY instances_series WHERE i.series_uid = s.series_uid AND i.state = 'received')
      ORDER BY last_received_at LIMIT 50`);
    this.slices = db.prepare(`SELECT i.sop_instance_uid AS sopInstanceUid, i.sop_class_uid AS sopClassUid,
      i.instance_number AS instanceNumber, i.z, i.tilt_deg AS tiltDeg, i.image_type AS imageType, i.state,
      i.skip_reason AS skipReason, i.error, i.path, i.received_at AS receivedAt, r.probs, r.model_sha256 AS modelSha256,
      r.preprocess_ms AS preprocessMs, r.inference_ms AS inferenceMs
      FROM instances i LEFT JOIN slice_results r ON r.sop_instance_uid = i.sop_instance_uid
      WHERE i.series_uid = ? ORDER BY i.z, i.instance_number, i.sop_instance_uid`);
    this.byUid = db.prepare(`SELECT ${seriesColumns} FROM series WHERE series_uid = ?`);
    this.recent = db.prepare(`SELECT ${seriesColumns} FROM series ORDER BY last_received_at DESC LIMIT ?`);
    this.decide = db.prepare(`UPDATE series SET state = 'decided', skip_reason = NULL, decision = @decision, result = @result,
      model_sha256 = @sha256, model_version = @version, decided_at = @decidedAt WHERE series_uid = @seriesUid AND revision = @revision`);
    this.skip = db.prepare(`UPDATE series SET state = 'skipped', skip_reason = ?, decided_at = ? WHERE series_uid = ? AND revision = ?`);
    this.early = db.prepare(`UPDATE series SET early_alert_at = ? WHERE series_uid = ? AND early_alert_at IS NULL`);
  }

  dueSeries(idleBefore: number): SeriesRow[] {
    return this.due.all({ idleBefore }) as SeriesRow[];
  }

  slicesOf(seriesUid: string): SeriesSlice[] {
    return this.slices.all(seriesUid) as SeriesSlice[];
  }

  get(seriesUid: string): SeriesRow | undefined {
    return this.byUid.get(seriesUid) as SeriesRow | undefined;
  }

  latest(limit: number): SeriesRow[] {
    return this.recent.all(limit) as SeriesRow[];
  }

  /** False when a slice arrived meanwhile and reopened the series as a newer revision. */
  recordDecision(result: SeriesResult): boolean {
    const info = this.decide.run({
      seriesUid: result.seriesUid,
      revision: result.revision,
      decision: result.decision,
      result: JSON.stringify(result),
      sha256: result.model.sha256,
      version: result.model.version,
      decidedAt: result.timings.decidedAt,
    });
    return info.changes === 1;
  }

  /** False when the series already had its early alert. */
  markEarlyAlert(seriesUid: string, now: number): boolean {
    return this.early.run(now, seriesUid).changes === 1;
  }

  recordSkip(seriesUid: string, revision: number, reason: string, now: number): boolean {
    return this.skip.run(reason, now, seriesUid, revision).changes === 1;
  }
}
