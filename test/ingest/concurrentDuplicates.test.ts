// Two associations store the same SOP Instance UID at once (durability fsync, so each waits for
// the disk in the middle): one copy is kept, its file matches its row, and no sender gets Success
// for a copy that is not committed.
import { afterEach, expect, test } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import dcmjs from 'dcmjs';
import { SpoolReceiver, spoolDir, uidFileName } from '../../src/ingest/receiver.js';
import { InstanceStore } from '../../src/store/instances.js';
import { migrate, openDb } from '../../src/store/db.js';
import { dataSetOf, ExplicitVRLittleEndian, newUid, syntheticSlice, type Slice } from '../helpers/synthetic.js';
import { partialSpoolFiles } from '../helpers/daemon.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A receiver on a fresh data folder and database; `store` sends one data set through it as association `id`. */
function receiverIn(durability: 'write' | 'fsync', now = Date.now) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ich-dup-'));
  dir = dataDir;
  const db = openDb(path.join(dataDir, 'ich-triage.db'));
  migrate(db);
  const receiver = new SpoolReceiver({ dataDir, durability, diskLow: () => false, now }, new InstanceStore(db), pino({ level: 'silent' }));
  const store = (slice: Slice, id: number) => {
    const instance = receiver.begin({
      association: { id, callingAe: `SENDER${id}`, calledAe: 'ICH_TRIAGE', peerAddress: '127.0.0.1' },
      sopClassUid: slice.sopClassUid,
      sopInstanceUid: slice.sopInstanceUid,
      transferSyntaxUid: ExplicitVRLittleEndian,
    });
    instance.write([slice.dataSet]);
    return instance.complete();
  };
  const close = async () => {
    await receiver.close();
    db.close();
  };
  return { dataDir, db, store, close };
}

test('the same instance stored twice at once: one copy, its file and its row agree, both senders acknowledged in the end', async () => {
  const { dataDir, db, store, close } = receiverIn('fsync');
  try {
    const uid = newUid();
    const first = syntheticSlice({ sopInstanceUid: uid, instanceNumber: 1, rows: 64, columns: 64 });
    const second = syntheticSlice({ sopInstanceUid: uid, seriesUid: first.seriesUid, studyUid: first.studyUid, instanceNumber: 2, rows: 64, columns: 64 });
    const outcomes = await Promise.all([store(first, 1), store(second, 2)]);
    // One is stored; the other is a duplicate (Success) or, while the first still waited for
    // the disk, refused for now, and Success when sent again.
    expect(outcomes.filter((o) => o.status === 0).length).toBeGreaterThanOrEqual(1);
    for (const [i, o] of outcomes.entries()) {
      if (o.status === 0) continue;
      expect(o).toEqual({ status: 0xa700, comment: 'same instance in progress on another association: send again' });
      expect((await store(i === 0 ? first : second, 3)).status).toBe(0);
    }

    const rows = db.prepare('SELECT path, instance_number AS n, calling_ae AS ae FROM instances WHERE sop_instance_uid = ?').all(uid) as { path: string; n: number; ae: string }[];
    expect(rows).toHaveLength(1);
    const stored = dcmjs.data.DicomMessage.readFile(readFileSync(path.join(dataDir, rows[0]!.path)).buffer as ArrayBuffer);
    const naturalized = dcmjs.data.DicomMetaDictionary.naturalizeDataset(stored.dict) as { InstanceNumber: number | string };
    // The file on disk is the copy whose row was committed.
    expect(Number(naturalized.InstanceNumber)).toBe(rows[0]!.n);
    expect(partialSpoolFiles(dataDir)).toEqual([]);
  } finally {
    await close();
  }
});

test('a spool file left without its row by a crash (between its name and its commit) makes way for the instance sent again', async () => {
  const { dataDir, db, store, close } = receiverIn('write');
  try {
    const slice = syntheticSlice({ instanceNumber: 7, rows: 64, columns: 64 });
    const leftover = path.join(dataDir, spoolDir, new Date().toISOString().slice(0, 10), `${uidFileName(slice.sopInstanceUid)}.dcm`);
    mkdirSync(path.dirname(leftover), { recursive: true });
    writeFileSync(leftover, 'half of an earlier attempt');
    expect(await store(slice, 1)).toEqual({ status: 0 });
    const row = db.prepare('SELECT path FROM instances WHERE sop_instance_uid = ?').get(slice.sopInstanceUid) as { path: string };
    expect(path.join(dataDir, row.path)).toBe(leftover);
    expect(dataSetOf(readFileSync(leftover)).equals(slice.dataSet)).toBe(true);
  } finally {
    await close();
  }
});

test('an instance sent again on a later day is acknowledged; the first copy, its row and its file stay, the second file goes', async () => {
  let now = Date.parse('2026-03-01T23:59:00Z');
  const { dataDir, db, store, close } = receiverIn('write', () => now);
  try {
    const first = syntheticSlice({ instanceNumber: 1, rows: 64, columns: 64 });
    const again = syntheticSlice({ sopInstanceUid: first.sopInstanceUid, seriesUid: first.seriesUid, studyUid: first.studyUid, instanceNumber: 2, rows: 64, columns: 64 });
    expect(await store(first, 1)).toEqual({ status: 0 });
    now += 2 * 60_000;
    expect(await store(again, 2)).toEqual({ status: 0 });
    const rows = db.prepare('SELECT path, instance_number AS n FROM instances WHERE sop_instance_uid = ?').all(first.sopInstanceUid) as { path: string; n: number }[];
    expect(rows).toEqual([{ path: path.join(spoolDir, '2026-03-01', `${uidFileName(first.sopInstanceUid)}.dcm`), n: 1 }]);
    expect(dataSetOf(readFileSync(path.join(dataDir, rows[0]!.path))).equals(first.dataSet)).toBe(true);
    expect(readdirSync(path.join(dataDir, spoolDir, '2026-03-02'))).toEqual([]);
    expect(partialSpoolFiles(dataDir)).toEqual([]);
  } finally {
    await close();
  }
});
