import type { Db } from './db.js';

export interface PendingSlice {
  sopInstanceUid: string;
  seriesUid: string;
  path: string;
  receivedAt: number;
}

export interface SliceOutcome {
  sopInstanceUid: string;
  seriesUid: string;
  probs?: number[];
  error?: string;
  preprocessMs: number;
  inferenceMs: number;
}

/** The classification stage's reads and writes. */
export class SliceStore {
  private readonly pending;
  private readonly insertResult;
  private readonly markClassified;
  private readonly markFailed;
  readonly record: (outcomes: SliceOutcome[], model: { sha256: string; version: string }, now: number) => void;

  constructor(db: Db) {
    this.pending = db.prepare(`SELECT sop_instance_uid AS sopInstanceUid, series_uid AS seriesUid, path, received_at AS receivedAt
      FROM instances WHERE state = 'received' ORDER BY received_at LIMIT ?`);
    this.insertResult = db.prepare(`INSERT OR REPLACE INTO slice_results (sop_instance_uid, series_uid, probs,
      model_sha256, model_version, preprocess_ms, inference_ms, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.markClassified = db.prepare(`UPDATE instances SET state = 'classified', error = NULL, processed_at = ? WHERE sop_instance_uid = ?`);
    this.markFailed = db.prepare(`UPDATE instances SET state = 'failed', error = ?, processed_at = ? WHERE sop_instance_uid = ?`);
    this.record = db.transaction((outcomes: SliceOutcome[], model: { sha256: string; version: string }, now: number) => {
      for (const o of outcomes) {
        if (o.probs) {
          this.insertResult.run(o.sopInstanceUid, o.seriesUid, JSON.stringify(o.probs), model.sha256, model.version, o.preprocessMs, o.inferenceMs, now);
          this.markClassified.run(now, o.sopInstanceUid);
        } else {
          this.markFailed.run(o.error ?? 'unknown error', now, o.sopInstanceUid);
        }
      }
    });
  }

  /** Oldest instances waiting for classification. */
  nextPending(limit: number): PendingSlice[] {
    return this.pending.all(limit) as PendingSlice[];
  }
}
