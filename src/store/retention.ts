import type { Db } from './db.js';

export interface SpoolCandidate {
  sopInstanceUid: string;
  path: string;
}

/** Most rows one query of the retention stage returns: it deletes in batches, each one awaited. */
export const batch = 1000;

/**
 * The retention policy's reads and writes. Each query reads through an index of what it may
 * delete (migration 003), never the whole table.
 */
export class RetentionStore {
  private readonly expiredSpool;
  private readonly markDeleted;
  private readonly expiredPayloads;
  private readonly markPayload;
  readonly prune: (before: number) => { instances: number; series: number; outbox: number };

  constructor(db: Db) {
    // Spool files outlive their processing by retainHours, and stay while a forward of them is pending.
    this.expiredSpool = db.prepare(`SELECT sop_instance_uid AS sopInstanceUid, path FROM instances i INDEXED BY instances_spooled
      WHERE spool_deleted_at IS NULL AND processed_at IS NOT NULL AND state != 'received' AND processed_at < ?
      AND NOT EXISTS (SELECT 1 FROM outbox o INDEXED BY outbox_pending_payloads WHERE o.payload_path = i.path AND o.state = 'pending')
      AND NOT EXISTS (SELECT 1 FROM series s WHERE s.series_uid = i.series_uid AND s.state = 'open')
      LIMIT ${batch}`);
    this.markDeleted = db.prepare(`UPDATE instances SET spool_deleted_at = ? WHERE sop_instance_uid = ?`);
    this.expiredPayloads = db.prepare(`SELECT id, payload_path AS path FROM outbox INDEXED BY outbox_payloads
      WHERE kind IN ('sr', 'kos') AND payload_path IS NOT NULL AND payload_deleted_at IS NULL AND state != 'pending' AND created_at < ?
      LIMIT ${batch}`);
    this.markPayload = db.prepare(`UPDATE outbox SET payload_deleted_at = ? WHERE id = ?`);
    const delInstances = db.prepare(`DELETE FROM instances INDEXED BY instances_prunable WHERE spool_deleted_at IS NOT NULL AND received_at < ?`);
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

  /** Report payloads no longer needed for sending, not yet deleted. */
  payloadsBefore(before: number): Array<{ id: number; path: string }> {
    return this.expiredPayloads.all(before) as Array<{ id: number; path: string }>;
  }

  markPayloadDeleted(id: number, now: number): void {
    this.markPayload.run(now, id);
  }
}
