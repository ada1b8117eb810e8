import type { Db } from './db.js';

export interface SpoolCandidate {
  sopInstanceUid: string;
  path: string;
}

/** The retention policy's reads and writes. */
export class RetentionStore {
  private readonly expiredSpool;
  private readonly markDeleted;
  private readonly expiredPayloads;
  readonly prune: (before: number) => { instances: number; series: number; outbox: number };

  constructor(db: Db) {
    // Spool files outlive their processing by retainHours, and stay while a forward of them is pending.
    this.expiredSpool = db.prepare(`SELECT sop_instance_uid AS sopInstanceUid, path FROM instances i
      WHERE spool_deleted_at IS NULL AND state != 'received' AND processed_at < ?
      AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.payload_path = i.path AND o.state = 'pending')
      AND NOT EXISTS (SELECT 1 FROM series s WHERE s.series_uid = i.series_uid AND s.state = 'open')
      LIMIT 1000`);
    this.markDeleted = db.prepare(`UPDATE instances SET spool_deleted_at = ? WHERE sop_instance_uid = ?`);
    this.expiredPayloads = db.prepare(`SELECT id, payload_path AS path FROM outbox
      WHERE kind IN ('sr', 'kos') AND state != 'pending' AND payload_path IS NOT NULL AND created_at < ?`);
    const delInstances = db.prepare(`DELETE FROM instances WHERE received_at < ? AND spool_deleted_at IS NOT NULL`);
    const delSeries = db.prepare(`DELETE FROM series WHERE last_received_at < ? AND state != 'open'
      AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.series_uid = series.series_uid)`);
    const delOutbox = db.prepare(`DELETE FROM outbox WHERE created_at < ? AND state != 'pending'`);
    this.prune = db.transaction((before: number) => ({
      instances: delInstances.run(before).changes,
      series: delSeries.run(before).changes,
      outbox: delOutbox.run(before).changes,
    }));
  }

  spoolExpiredBefore(before: number): SpoolCandidate[] {
    return this.expiredSpool.all(before) as SpoolCandidate[];
  }

  markSpoolDeleted(sopInstanceUid: string, now: number): void {
    this.markDeleted.run(now, sopInstanceUid);
  }

  /** Report payloads no longer needed for sending. */
  payloadsBefore(before: number): Array<{ id: number; path: string }> {
    return this.expiredPayloads.all(before) as Array<{ id: number; path: string }>;
  }
}
