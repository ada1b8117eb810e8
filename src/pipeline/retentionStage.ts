import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { batch, type RetentionStore } from '../store/retention.js';
import type { Logger } from '../log.js';

export interface RetentionSettings {
  dataDir: string;
  retainHours: number;
  retainDays: number;
}

const hour = 3600_000;

/**
 * Deletes spool files storage.retainHours after their instance was processed (never while its
 * series is open or a forward of it is pending), report payloads once sent, and database rows
 * after storage.retainDays. Also clears temporary files left by a crash mid-transfer.
 */
export class RetentionStage {
  constructor(
    private readonly store: RetentionStore,
    private readonly settings: () => RetentionSettings,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** True while a batch came back full: the loop runs it again at once for the rest. */
  async runOnce(): Promise<boolean> {
    const s = this.settings();
    const now = this.now();
    const spoolBefore = now - s.retainHours * hour;
    const files = this.store.spoolExpiredBefore(spoolBefore);
    for (const c of files) {
      await fsp.rm(path.join(s.dataDir, c.path), { force: true });
      this.store.markSpoolDeleted(c.sopInstanceUid, now);
    }
    const payloads = this.store.payloadsBefore(spoolBefore);
    for (const p of payloads) {
      await fsp.rm(path.join(s.dataDir, p.path), { force: true });
      this.store.markPayloadDeleted(p.id, now);
    }
    if (files.length === batch || payloads.length === batch) {
      this.log.info({ spoolFilesDeleted: files.length, payloadsDeleted: payloads.length }, 'retention: more to delete');
      return true;
    }
    const pruned = this.store.prune(now - s.retainDays * 24 * hour);
    const stale = await removeStaleTemporaries(path.join(s.dataDir, 'spool', 'incoming'), now - hour);
    if (files.length + payloads.length + pruned.instances + pruned.series + pruned.outbox + stale > 0) {
      this.log.info({ spoolFilesDeleted: files.length, payloadsDeleted: payloads.length, rowsPruned: pruned, staleTemporaries: stale }, 'retention');
    }
    return false;
  }
}

/** `.part` files older than `before` belong to transfers that ended without an answer. */
async function removeStaleTemporaries(dir: string, before: number): Promise<number> {
  let removed = 0;
  for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
    const file = path.join(dir, name);
    const stat = await fsp.stat(file).catch(() => undefined);
    if (stat && stat.mtimeMs < before) {
      await fsp.rm(file, { force: true });
      removed++;
    }
  }
  return removed;
}
