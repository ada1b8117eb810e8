// The classify stage against the real engine (tiny model), real spool files and a real SQLite file.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadModelContract } from '../../src/inference/contract.js';
import { InferenceEngine } from '../../src/inference/engine.js';
import { ClassifyStage, coalesceMs } from '../../src/pipeline/classifyStage.js';
import { migrate, openDb, type Db } from '../../src/store/db.js';
import { InstanceStore } from '../../src/store/instances.js';
import { SliceStore } from '../../src/store/slices.js';
import { syntheticSeries, writeSlices } from '../helpers/synthetic.js';
import { tinyModel } from '../helpers/daemon.js';

let dir: string;
let db: Db;
let engine: InferenceEngine;
beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ich-classify-stage-'));
  db = openDb(path.join(dir, 'ich-triage.db'));
  migrate(db);
  // Two single-threaded workers, four slices a batch.
  engine = await InferenceEngine.start(loadModelContract(tinyModel), { providers: ['cpu'], threads: 2, batchSize: 4, deviceId: 0 });
});
afterAll(async () => {
  await engine.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('while slices stream in only full batches go; the rest goes once the stream pauses', async () => {
  const slices = syntheticSeries({ slices: 6, rows: 64, columns: 64 });
  const files = writeSlices(path.join(dir, 'spool'), slices);
  const instances = new InstanceStore(db);
  let now = 1_000_000;
  const batches: number[] = [];
  let settled = () => undefined as void;
  const stage = new ClassifyStage(engine, new SliceStore(db), dir, pino({ level: 'silent' }), (_series, ok, done) => {
    expect(ok).toBe(true);
    batches.push(done.length);
    settled();
  }, () => now);
  const batchDone = () => new Promise<void>((resolve) => (settled = resolve));

  slices.forEach((s, i) => {
    instances.record({
      sopInstanceUid: s.sopInstanceUid, sopClassUid: s.sopClassUid, seriesUid: s.seriesUid, studyUid: s.studyUid,
      transferSyntax: '1.2.840.10008.1.2.1', callingAe: 'TEST', peerAddress: '127.0.0.1', receivedAt: now + i,
      path: path.relative(dir, files[i]!), size: 0, instanceNumber: i + 1, z: i, tiltDeg: 0, imageType: null,
      state: 'received', skipReason: null,
    }, { seriesUid: s.seriesUid, studyUid: s.studyUid, modality: 'CT', seriesDescription: null, contrastAgent: null, accessionNumber: null, expectedSlices: null });
    stage.noteArrival();
    now += 2;
  });

  // Streaming: one full batch of 4 goes, the other 2 wait; the stage asks to look again soon.
  let done = batchDone();
  const again = await stage.runOnce();
  expect(typeof again).toBe('number');
  expect(again as number).toBeGreaterThan(0);
  expect(again as number).toBeLessThanOrEqual(coalesceMs);
  await done;
  expect(batches).toEqual([4]);
  // Nothing new arrived and the last slice came 2 ms ago: still waiting, no query, no batch.
  expect(await stage.runOnce()).toBe(coalesceMs - 2);
  expect(batches).toEqual([4]);

  // The stream paused: the partial batch goes.
  now += coalesceMs;
  done = batchDone();
  expect(await stage.runOnce()).toBe(false);
  await done;
  expect(batches).toEqual([4, 2]);
  expect(db.prepare("SELECT count(*) FROM instances WHERE state = 'classified'").pluck().get()).toBe(6);
});
