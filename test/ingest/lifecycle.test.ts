import { afterEach, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { partialSpoolFiles, startDaemon, type LogLine, type TestDaemon } from '../helpers/daemon.js';
import { startTool, storescu, storescuArgs, storeResponses } from '../helpers/dcmtk.js';
import { dataSetOf, syntheticSeries, writeSlices } from '../helpers/synthetic.js';

// Load, shutdown and what the logs may contain: the node as a process, dcmtk as the peer.

const daemons: TestDaemon[] = [];

async function start(config: Record<string, unknown>): Promise<TestDaemon> {
  const d = await startDaemon({ config });
  daemons.push(d);
  return d;
}

afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.cleanup()));
});

/** Resolves when `count` lines have matched since the call. */
function nthLog(d: TestDaemon, count: number, match: (l: LogLine) => boolean): Promise<LogLine> {
  let seen = d.logs.filter(match).length;
  const target = seen + count;
  return d.waitForLog((l) => match(l) && ++seen >= target, 60_000);
}

const isStored = (l: LogLine) => l.msg === 'instance stored';

function rows(d: TestDaemon): Map<string, { path: string; state: string }> {
  const db = d.openDb();
  try {
    const all = db.prepare('SELECT sop_instance_uid AS uid, path, state FROM instances').all() as { uid: string; path: string; state: string }[];
    return new Map(all.map((r) => [r.uid, r]));
  } finally {
    db.close();
  }
}

test('4 concurrent associations x 50 slices are all stored', async () => {
  const d = await start({});
  const series = Array.from({ length: 4 }, () => syntheticSeries({ slices: 50 }));
  const files = series.map((s, i) => writeSlices(path.join(d.dir, `in${i}`), s));
  const results = await Promise.all(files.map((f, i) => storescu({ port: d.port, callingAe: `SCU_${i}` }, f)));
  for (const r of results) {
    expect(r.code, r.output).toBe(0);
    expect(storeResponses(r.stderr).filter((x) => x.status === 'Success')).toHaveLength(50);
  }
  const stored = rows(d);
  expect(stored.size).toBe(200);
  for (const slice of series.flat()) {
    const row = stored.get(slice.sopInstanceUid);
    expect(row).toBeDefined();
    expect(dataSetOf(readFileSync(path.join(d.dataDir, row!.path))).equals(slice.dataSet)).toBe(true);
  }
});

const interruptions: [NodeJS.Signals, Record<string, unknown>, number | string][] = [
  // No drain time: SIGTERM cuts the association at once. Exit status 0.
  ['SIGTERM', { storage: { durability: 'fsync' }, dicom: { drainSeconds: 0 } }, 0],
  // durability "write" is meant to survive kill -9.
  ['SIGKILL', { storage: { durability: 'write' } }, 'SIGKILL'],
];

test.each(interruptions)('%s during a transfer: every acknowledged instance is on disk and in the database', async (signal, config, exit) => {
  const d = await start(config);
  const slices = syntheticSeries({ slices: 300, rows: 128, columns: 128 });
  const files = writeSlices(path.join(d.dir, 'in'), slices);
  const byFile = new Map(files.map((f, i) => [f, slices[i]!]));
  const sender = startTool('storescu', storescuArgs({ port: d.port }, files));
  await nthLog(d, 20, isStored);
  d.process.kill(signal);
  expect(await d.exited).toBe(exit);
  if (signal === 'SIGTERM') expect(d.logs.at(-1)?.msg).toBe('stopped');
  const sent = await sender.done;
  const acknowledged = storeResponses(sent.stderr).filter((x) => x.status === 'Success');
  // storescu waits for each response, and the 20th may not have left before the signal.
  expect(acknowledged.length).toBeGreaterThanOrEqual(19);
  expect(acknowledged.length, 'the transfer should have been cut short').toBeLessThan(300);

  // The next start finds every acknowledged instance and no half-written spool files.
  await d.restart();
  const stored = rows(d);
  for (const { file } of acknowledged) {
    const slice = byFile.get(file)!;
    const row = stored.get(slice.sopInstanceUid);
    expect(row, file).toBeDefined();
    expect(dataSetOf(readFileSync(path.join(d.dataDir, row!.path))).equals(slice.dataSet)).toBe(true);
  }
  expect(partialSpoolFiles(d.dataDir)).toEqual([]);
});

test('SIGTERM lets an association in flight finish within the drain time', async () => {
  const d = await start({ dicom: { drainSeconds: 30 } });
  const slices = syntheticSeries({ slices: 150, rows: 128, columns: 128 });
  const files = writeSlices(path.join(d.dir, 'in'), slices);
  const sender = startTool('storescu', storescuArgs({ port: d.port }, files));
  await nthLog(d, 5, isStored);
  d.process.kill('SIGTERM');
  const [code, sent] = await Promise.all([d.exited, sender.done]);
  expect(code).toBe(0);
  expect(sent.code, sent.output).toBe(0);
  expect(storeResponses(sent.stderr).filter((x) => x.status === 'Success')).toHaveLength(150);
  expect(rows(d).size).toBe(150);
});

test('PatientName, PatientID and PatientBirthDate never reach the logs (logging.phi false)', async () => {
  const d = await start({ logging: { level: 'trace', phi: false } });
  const phi = { patientName: 'Doe^Jane^Quincy', patientId: 'PID-93127', patientBirthDate: '19470315' };
  const good = syntheticSeries({ slices: 3, ...phi });
  const refused = syntheticSeries({ slices: 1, ...phi, omitStudyUid: true });
  const files = writeSlices(path.join(d.dir, 'in'), [...good, ...refused]);
  const r = await storescu({ port: d.port }, files, ['--no-halt']);
  expect(storeResponses(r.stderr).map((x) => x.status)).toEqual(['Success', 'Success', 'Success', 'Error: CannotUnderstand']);
  await d.stop();
  const text = [...d.logs.map((l) => JSON.stringify(l)), ...d.rawOutput].join('\n');
  expect(d.logs.length).toBeGreaterThan(5);
  for (const value of [...Object.values(phi), 'Doe', 'Quincy', '93127']) expect(text).not.toContain(value);
});
