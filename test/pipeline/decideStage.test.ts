// The decide stage on a real SQLite file and a fake clock: when a series counts as complete.
import { afterEach, beforeEach, expect, test } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { DecideStage } from '../../src/pipeline/decideStage.js';
import { migrate, openDb, type Db } from '../../src/store/db.js';
import { InstanceStore } from '../../src/store/instances.js';
import { SeriesStore } from '../../src/store/series.js';

const series = { ...configSchema.parse({ model: { path: 'm.onnx' } }).series, idleSeconds: 10 };
const model = {
  classes: ['any'],
  thresholds: { any: 0.5 },
  info: { name: 'm', version: '1', architecture: 'a', intendedUse: 'test model', sha256: 'ab', demo: true },
};

let dir: string;
let db: Db;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ich-decide-stage-'));
  db = openDb(path.join(dir, 'ich-triage.db'));
  migrate(db);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One stored, not classifiable slice of series `uid` (the series is skipped once complete). */
function store(uid: string, receivedAt: number, expectedSlices: number | null = null): void {
  new InstanceStore(db).record({
    sopInstanceUid: `${uid}.1`, sopClassUid: '1.2.3', seriesUid: uid, studyUid: 'T', transferSyntax: '1.2.840.10008.1.2.1',
    callingAe: 'TEST', peerAddress: '127.0.0.1', receivedAt, path: 'x.dcm', size: 0, instanceNumber: 1, z: 0, tiltDeg: 0,
    imageType: null, state: 'skipped', skipReason: 'SOP class 1.2.3 is stored but not classified',
  }, { seriesUid: uid, studyUid: 'T', modality: 'CT', seriesDescription: null, contrastAgent: null, accessionNumber: null, expectedSlices });
}

test('a series that went idle while the node was down is complete only series.idleSeconds after the start; a full one at once', async () => {
  const clock = { now: 1_000_000 };
  // Last slices a minute before this start: the node was down, their senders could not send.
  store('IDLE', clock.now - 60_000);
  store('FULL', clock.now - 60_000, 1);
  const completed: string[] = [];
  const stage = new DecideStage(new SeriesStore(db), () => ({ series, model }), pino({ level: 'silent' }), undefined, (uid) => completed.push(uid), () => clock.now);

  await stage.runOnce();
  expect(completed).toEqual(['FULL']);
  clock.now += 9_999;
  await stage.runOnce();
  expect(completed).toEqual(['FULL']);
  clock.now += 1;
  await stage.runOnce();
  expect(completed).toEqual(['FULL', 'IDLE']);

  // Once up that long, idleness counts from the last slice as before.
  store('LATER', clock.now);
  clock.now += 9_999;
  await stage.runOnce();
  expect(completed).toEqual(['FULL', 'IDLE']);
  clock.now += 1;
  await stage.runOnce();
  expect(completed).toEqual(['FULL', 'IDLE', 'LATER']);
});
