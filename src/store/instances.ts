import type { Db } from './db.js';

export type InstanceState = 'received' | 'classified' | 'skipped' | 'failed';

export interface NewInstance {
  sopInstanceUid: string;
  sopClassUid: string;
  seriesUid: string;
  studyUid: string;
  transferSyntax: string;
  callingAe: string;
  peerAddress: string;
  receivedAt: number;
  path: string;
  size: number;
  instanceNumber: number | null;
  z: number | null;
  tiltDeg: number | null;
  imageType: string | null;
  state: InstanceState;
  skipReason: string | null;
}

export interface SeriesAttributes {
  seriesUid: string;
  studyUid: string;
  modality: string | null;
  seriesDescription: string | null;
  contrastAgent: string | null;
  accessionNumber: string | null;
  expectedSlices: number | null;
}

export interface InstanceRow extends NewInstance {
  error: string | null;
  processedAt: number | null;
}

const columns = `sop_instance_uid AS sopInstanceUid, sop_class_uid AS sopClassUid, series_uid AS seriesUid,
  study_uid AS studyUid, transfer_syntax AS transferSyntax, calling_ae AS callingAe, peer_address AS peerAddress,
  received_at AS receivedAt, path, size, instance_number AS instanceNumber, z, tilt_deg AS tiltDeg,
  image_type AS imageType, state, skip_reason AS skipReason, error, processed_at AS processedAt`;

/** Writes of the ingest path, prepared once. */
export class InstanceStore {
  private readonly exists;
  private readonly insert;
  private readonly upsertSeries;
  private readonly byUid;
  private readonly bySeries;
  /** Commits the instance, its series and, for routing, one forward per destination. */
  readonly record: (instance: NewInstance, series: SeriesAttributes, forwardTo?: readonly string[]) => void;
  /**
   * The write-ahead log that holds commits until a checkpoint (undefined without one). With
   * synchronous=NORMAL a commit is not flushed to the disk; fsync of this file makes it so
   * without blocking the event loop as synchronous=FULL would.
   */
  readonly walFile: string | undefined;

  constructor(db: Db) {
    this.walFile = !db.memory && db.pragma('journal_mode', { simple: true }) === 'wal' ? `${db.name}-wal` : undefined;
    this.exists = db.prepare('SELECT 1 FROM instances WHERE sop_instance_uid = ?').pluck();
    this.insert = db.prepare(`INSERT INTO instances (sop_instance_uid, sop_class_uid, series_uid, study_uid,
      transfer_syntax, calling_ae, peer_address, received_at, path, size, instance_number, z, tilt_deg, image_type,
      state, skip_reason, processed_at)
      VALUES (@sopInstanceUid, @sopClassUid, @seriesUid, @studyUid, @transferSyntax, @callingAe, @peerAddress,
      @receivedAt, @path, @size, @instanceNumber, @z, @tiltDeg, @imageType, @state, @skipReason,
      CASE WHEN @state = 'received' THEN NULL ELSE @receivedAt END)`);
    // A slice that arrives after the decision reopens the series for a new revision.
    this.upsertSeries = db.prepare(`INSERT INTO series (series_uid, study_uid, modality, series_description,
      contrast_agent, accession_number, expected_slices, first_received_at, last_received_at)
      VALUES (@seriesUid, @studyUid, @modality, @seriesDescription, @contrastAgent, @accessionNumber,
      @expectedSlices, @receivedAt, @receivedAt)
      ON CONFLICT (series_uid) DO UPDATE SET last_received_at = excluded.last_received_at,
        expected_slices = COALESCE(series.expected_slices, excluded.expected_slices),
        state = CASE WHEN @reopens THEN 'open' ELSE series.state END,
        revision = CASE WHEN @reopens AND series.state != 'open' THEN series.revision + 1 ELSE series.revision END`);
    this.byUid = db.prepare(`SELECT ${columns} FROM instances WHERE sop_instance_uid = ?`);
    this.bySeries = db.prepare(`SELECT ${columns} FROM instances WHERE series_uid = ? ORDER BY z, instance_number`);
    const forward = db.prepare(`INSERT OR IGNORE INTO outbox (key, series_uid, kind, destination, payload_path, next_attempt_at, created_at)
      VALUES (@key, @seriesUid, 'forward', @destination, @path, @receivedAt, @receivedAt)`);
    this.record = db.transaction((instance: NewInstance, series: SeriesAttributes, forwardTo: readonly string[] = []) => {
      this.insert.run(instance);
      this.upsertSeries.run({ ...series, receivedAt: instance.receivedAt, reopens: instance.state === 'received' ? 1 : 0 });
      for (const destination of forwardTo) {
        forward.run({ key: `forward:${instance.sopInstanceUid}:${destination}`, seriesUid: instance.seriesUid, destination, path: instance.path, receivedAt: instance.receivedAt });
      }
    });
  }

  has(sopInstanceUid: string): boolean {
    return this.exists.get(sopInstanceUid) === 1;
  }

  get(sopInstanceUid: string): InstanceRow | undefined {
    return this.byUid.get(sopInstanceUid) as InstanceRow | undefined;
  }

  ofSeries(seriesUid: string): InstanceRow[] {
    return this.bySeries.all(seriesUid) as InstanceRow[];
  }
}
