import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { openDb, migrate, type Db } from '../../src/store/db.js';
import { InstanceStore, type NewInstance } from '../../src/store/instances.js';
import { OutboxStore } from '../../src/store/outbox.js';
import { batch, RetentionStore } from '../../src/store/retention.js';
import { RetentionStage } from '../../src/pipeline/retentionStage.js';

// Retention with an injectable clock: a real SQLite file and real spool files.

const hour = 3600_000;
const t0 = Date.UTC(2026, 10, 1, 12);
const dirs: string[] = [];
const dbs: Db[] = [];
afterEach(() => {
  for (const d of dbs.splice(0)) d.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ich-retention-'));
  dirs.push(dataDir);
  const db = openDb(path.join(dataDir, 'ich-triage.db'));
  dbs.push(db);
  migrate(db);
  return { dataDir, db, instances: new InstanceStore(db), outbox: new OutboxStore(db) };
}

function instance(dataDir: string, uid: string, series: string, receivedAt: number): NewInstance {
  const rel = path.join('spool', '2026-11-01', `${uid}.dcm`);
  mkdirSync(path.join(dataDir, 'spool', '2026-11-01'), { recursive: true });
  writeFileSync(path.join(dataDir, rel), 'x');
  return {
    sopInstanceUid: uid, sopClassUid: '1.2.840.10008.5.1.4.1.1.2', seriesUid: series, studyUid: 'st', transferSyntax: '1.2.840.10008.1.2.1',
    callingAe: 'A', peerAddress: '127.0.0.1', receivedAt, path: rel, size: 1, instanceNumber: 1, z: 0, tiltDeg: 0, imageType: null,
    state: 'received', skipReason: null,
  };
}

const series = (uid: string) => ({ seriesUid: uid, studyUid: 'st', modality: 'CT', seriesDescription: null, contrastAgent: null, accessionNumber: null, expectedSlices: null });

describe('retention', () => {
  it('deletes spool files retainHours after processing, keeps open series and pending forwards, prunes rows after retainDays', async () => {
    const { dataDir, db, instances, outbox } = setup();
    let now = t0;
    const stage = new RetentionStage(new RetentionStore(db), () => ({ dataDir, retainHours: 24, retainDays: 30 }), pino({ level: 'silent' }), () => now);
    instances.record(instance(dataDir, 'a', 'S1', t0), series('S1'));
    instances.record(instance(dataDir, 'b', 'S2', t0), series('S2'));
    instances.record(instance(dataDir, 'c', 'S3', t0), series('S3'), ['pacs']);
    // a and c processed at t0, their series decided; b's series still open.
    db.prepare(`UPDATE instances SET state = 'classified', processed_at = ?`).run(t0);
    db.prepare(`UPDATE series SET state = 'decided', decided_at = ? WHERE series_uid IN ('S1', 'S3')`).run(t0);

    now = t0 + 23 * hour;
    await stage.runOnce();
    expect(existsSync(path.join(dataDir, 'spool/2026-11-01/a.dcm'))).toBe(true);

    now = t0 + 25 * hour;
    await stage.runOnce();
    expect(existsSync(path.join(dataDir, 'spool/2026-11-01/a.dcm'))).toBe(false);
    expect(existsSync(path.join(dataDir, 'spool/2026-11-01/b.dcm'))).toBe(true); // series open
    expect(existsSync(path.join(dataDir, 'spool/2026-11-01/c.dcm'))).toBe(true); // forward pending
    const deleted = db.prepare(`SELECT sop_instance_uid AS u, spool_deleted_at AS d FROM instances ORDER BY u`).all();
    expect(deleted).toEqual([{ u: 'a', d: now }, { u: 'b', d: null }, { u: 'c', d: null }]);

    // The forward is sent: c goes at the next turn.
    const row = outbox.due(now, 10)[0]!;
    outbox.markSent(row.id, 0, now);
    await stage.runOnce();
    expect(existsSync(path.join(dataDir, 'spool/2026-11-01/c.dcm'))).toBe(false);

    now = t0 + 31 * 24 * hour;
    await stage.runOnce();
    expect(db.prepare(`SELECT sop_instance_uid AS u FROM instances ORDER BY u`).all()).toEqual([{ u: 'b' }]);
    expect(db.prepare(`SELECT series_uid AS s FROM series ORDER BY s`).all()).toEqual([{ s: 'S2' }]);
    expect(db.prepare(`SELECT count(*) AS n FROM outbox`).get()).toEqual({ n: 0 });
  });

  it('deletes in batches until none is left, and a report payload once: then it is no longer listed', async () => {
    const { dataDir, db, instances, outbox } = setup();
    let now = t0;
    const store = new RetentionStore(db);
    const stage = new RetentionStage(store, () => ({ dataDir, retainHours: 24, retainDays: 30 }), pino({ level: 'silent' }), () => now);
    const count = batch + 5;
    db.transaction(() => {
      for (let i = 0; i < count; i++) instances.record(instance(dataDir, `i${i}`, 'S1', t0), series('S1'));
    })();
    db.prepare(`UPDATE instances SET state = 'classified', processed_at = ?`).run(t0);
    db.prepare(`UPDATE series SET state = 'decided', decided_at = ?`).run(t0);
    mkdirSync(path.join(dataDir, 'reports'));
    writeFileSync(path.join(dataDir, 'reports', 'sr.dcm'), 'x');
    outbox.add({ key: 'sr:S1:pacs', seriesUid: 'S1', kind: 'sr', destination: 'pacs', payloadPath: 'reports/sr.dcm', payload: null }, t0);
    outbox.markSent(outbox.due(t0, 1)[0]!.id, 0, t0);

    now = t0 + 25 * hour;
    const left = () => db.prepare('SELECT count(*) FROM instances WHERE spool_deleted_at IS NULL').pluck().get();
    expect(await stage.runOnce()).toBe(true);
    expect(left()).toBe(5);
    expect(existsSync(path.join(dataDir, 'reports', 'sr.dcm'))).toBe(false);
    expect(store.payloadsBefore(now)).toEqual([]);
    expect(db.prepare('SELECT payload_deleted_at FROM outbox').pluck().get()).toBe(now);
    expect(await stage.runOnce()).toBe(false);
    expect(left()).toBe(0);
    expect(existsSync(path.join(dataDir, 'spool/2026-11-01/i0.dcm'))).toBe(false);
  });

  it('removes temporary files of transfers that never completed', async () => {
    const { dataDir, db } = setup();
    const incoming = path.join(dataDir, 'spool', 'incoming');
    mkdirSync(incoming, { recursive: true });
    writeFileSync(path.join(incoming, 'old.part'), 'x');
    writeFileSync(path.join(incoming, 'new.part'), 'x');
    const twoHoursAgo = (Date.now() - 2 * hour) / 1000;
    utimesSync(path.join(incoming, 'old.part'), twoHoursAgo, twoHoursAgo);
    await new RetentionStage(new RetentionStore(db), () => ({ dataDir, retainHours: 24, retainDays: 30 }), pino({ level: 'silent' })).runOnce();
    expect(existsSync(path.join(incoming, 'old.part'))).toBe(false);
    expect(existsSync(path.join(incoming, 'new.part'))).toBe(true);
  });
});
