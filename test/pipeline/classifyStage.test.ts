// The classify stage against the real engine (tiny model), real spool files and a real SQLite file.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadModelContract } from '../../src/inference/contract.js';
import { InferenceEngine } from '../../src/inference/engine.js';
import { ClassifyStage, coalesceMs, holdWhileReceiving } from '../../src/pipeline/classifyStage.js';
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

const holdMs = 2000;
const streamStart = 1_000_000;

/** A stage on a fake clock, the slices it saw stored and the sizes of the batches it finished. */
function stageWithClock(name: string, count: number, hold = holdMs) {
  const slices = syntheticSeries({ slices: count, rows: 64, columns: 64 });
  const files = writeSlices(path.join(dir, name), slices);
  const instances = new InstanceStore(db);
  const clock = { now: streamStart };
  const batches: number[] = [];
  let waiting: { count: number; resolve: () => void } | undefined;
  const stage = new ClassifyStage(engine, new SliceStore(db), dir, pino({ level: 'silent' }), (_series, ok, done) => {
    expect(ok).toBe(true);
    batches.push(done.length);
    if (waiting && batches.length >= waiting.count) waiting.resolve();
  }, () => hold, () => clock.now);
  /** Records slice i as stored now and tells the stage. */
  const arrive = (i: number) => {
    const s = slices[i]!;
    instances.record({
      sopInstanceUid: s.sopInstanceUid, sopClassUid: s.sopClassUid, seriesUid: s.seriesUid, studyUid: s.studyUid,
      transferSyntax: '1.2.840.10008.1.2.1', callingAe: 'TEST', peerAddress: '127.0.0.1', receivedAt: clock.now,
      path: path.relative(dir, files[i]!), size: 0, instanceNumber: i + 1, z: i, tiltDeg: 0, imageType: null,
      state: 'received', skipReason: null,
    }, { seriesUid: s.seriesUid, studyUid: s.studyUid, modality: 'CT', seriesDescription: null, contrastAgent: null, accessionNumber: null, expectedSlices: null });
    return stage.noteArrival();
  };
  /** Resolves once `count` batches in all have finished. */
  const finished = (count: number) => new Promise<void>((resolve) => {
    waiting = { count, resolve };
    if (batches.length >= count) resolve();
  });
  const classified = () => db.prepare("SELECT count(*) FROM instances WHERE state = 'classified' AND series_uid = ?").pluck().get(slices[0]!.seriesUid) as number;
  return { stage, clock, batches, arrive, finished, classified };
}

test('a transfer holds classification back for up to holdMs; then full batches go, and the rest once it pauses', async () => {
  // 54 slices, most 45 ms apart: one stream (gaps under coalesceMs) lasting longer than holdMs.
  const gap = 45;
  const t = stageWithClock('long-stream', 54);
  // Only the first slice of the stream asks for a look: the rest are held back.
  const wakes: boolean[] = [];
  for (let i = 0; i < 6; i++, t.clock.now += 2) wakes.push(t.arrive(i));
  expect(wakes).toEqual([true, false, false, false, false, false]);
  // Held: nothing goes, the stage asks to look again within coalesceMs.
  const again = await t.stage.runOnce();
  expect(again).toBeGreaterThan(0);
  expect(again).toBeLessThanOrEqual(coalesceMs);
  expect(t.batches).toEqual([]);

  const late: { sinceStart: number; wake: boolean }[] = [];
  for (let i = 6; i < 54; i++) {
    t.clock.now += gap;
    late.push({ sinceStart: t.clock.now - streamStart, wake: t.arrive(i) });
  }
  expect(48 * gap).toBeGreaterThanOrEqual(holdMs);
  // Past the hold, with a batch's worth waiting, each arrival asks for a look; none before.
  expect(late.filter((a) => a.wake !== a.sinceStart >= holdMs)).toEqual([]);
  expect(late.some((a) => a.wake)).toBe(true);
  // Streaming for more than holdMs: full batches go (two workers holding two batches of four each).
  expect(typeof (await t.stage.runOnce())).toBe('number');
  await t.finished(4);
  expect(t.batches).toEqual([4, 4, 4, 4]);
  // The stream paused: the rest goes, 4 at a time, and the 2 left over (batches finish in any order).
  t.clock.now += coalesceMs;
  while (t.classified() < 54) {
    await t.stage.runOnce();
    await t.finished(t.batches.length + 1);
  }
  expect([...t.batches].sort()).toEqual([2, ...Array<number>(13).fill(4)]);
});

test('without a hold: a full batch wakes the loop, which keeps looking while the stream lasts and sends the rest once it pauses', async () => {
  const t = stageWithClock('no-hold', 6, 0);
  const wakes: boolean[] = [];
  for (let i = 0; i < 4; i++, t.clock.now += 2) wakes.push(t.arrive(i));
  expect(wakes).toEqual([true, false, false, true]);
  // The batch goes; nothing is left over, yet the stream goes on: look again within coalesceMs.
  const again = await t.stage.runOnce();
  expect(again).toBeGreaterThan(0);
  expect(again).toBeLessThanOrEqual(coalesceMs);
  await t.finished(1);
  expect([t.arrive(4), t.arrive(5)]).toEqual([false, false]);
  expect(typeof (await t.stage.runOnce())).toBe('number');
  t.clock.now += coalesceMs;
  expect(await t.stage.runOnce()).toBe(false);
  await t.finished(2);
  expect(t.batches).toEqual([4, 2]);
  expect(t.classified()).toBe(6);
});

test('when the last association closes, what it sent goes at once', async () => {
  const t = stageWithClock('closed', 6);
  for (let i = 0; i < 6; i++, t.clock.now += 2) t.arrive(i);
  expect(typeof (await t.stage.runOnce())).toBe('number');
  expect(t.batches).toEqual([]);
  // No coalesceMs wait: the clock stands still.
  t.stage.noteTransfersEnded();
  expect(await t.stage.runOnce()).toBe(false);
  await t.finished(2);
  expect(t.batches.sort()).toEqual([2, 4]);
  expect(t.classified()).toBe(6);
});

test('the hold defaults to 2 s where inference can keep every core busy, else none; a configured value wins', () => {
  const status = { ...engine.status };
  expect(holdWhileReceiving(undefined, { ...status, busyThreads: 2 }, 2)).toBe(2000);
  expect(holdWhileReceiving(undefined, { ...status, busyThreads: 8 }, 8)).toBe(2000);
  // threads: 4 on an 8-core host, or a GPU with its preprocess workers on 16 cores: cores to spare.
  expect(holdWhileReceiving(undefined, { ...status, busyThreads: 4 }, 8)).toBe(0);
  expect(holdWhileReceiving(undefined, { ...status, busyThreads: 9 }, 16)).toBe(0);
  expect(holdWhileReceiving(0, { ...status, busyThreads: 2 }, 2)).toBe(0);
  expect(holdWhileReceiving(500, { ...status, busyThreads: 1 }, 16)).toBe(500);
  // This engine: two single-threaded CPU sessions.
  expect(engine.status.busyThreads).toBe(2);
});
