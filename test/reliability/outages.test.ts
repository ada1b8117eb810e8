import { afterEach, expect, test } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { partialSpoolFiles, repoRoot, type TestDaemon } from '../helpers/daemon.js';
import { syntheticSeries, writeSlices, type Slice } from '../helpers/synthetic.js';
import { SopClass, eventually, receivedObjects } from '../dispatch/peers.js';
import { deferCleanup, node, pacsIn, scenarioConfig, seriesOutputs, settled, smtpSink, tearDown, tempDir, urgentThresholds } from '../dispatch/harness.js';
import { newSenderStats, sendUntilAcknowledged } from './sender.js';

// Outages the node must ride out by itself, losing nothing: the database locked by another
// process past busy_timeout, the disk full for real (ENOSPC, not the watermark), the PACS going
// away in the middle of a run while the mail server answers "try later". Peers down from the
// start, SMTP 5xx, kill -9 before sending (test/dispatch/outages.test.ts) and the free-space
// watermark (test/ops/endpoints.test.ts, test/ingest/policy.test.ts) are tested there.

afterEach(tearDown);

const run = promisify(execFile);

/** The number of instances in each state, and the series decided. */
function counts(d: TestDaemon): { states: Record<string, number>; decided: number } {
  const db = d.openDb();
  try {
    const rows = db.prepare('SELECT state, count(*) AS n FROM instances GROUP BY state').all() as { state: string; n: number }[];
    const decided = db.prepare("SELECT count(*) FROM series WHERE state = 'decided'").pluck().get() as number;
    return { states: Object.fromEntries(rows.map((r) => [r.state, r.n])), decided };
  } finally {
    db.close();
  }
}

/** Resolves once every slice of the series is classified and each series is decided. */
function allDecided(d: TestDaemon, series: readonly Slice[][]) {
  const total = series.reduce((n, s) => n + s.length, 0);
  let last: ReturnType<typeof counts> | undefined;
  return eventually('every slice classified and every series decided', () => {
    const c = (last = counts(d));
    return c.states['classified'] === total && c.decided === series.length && c;
  }, 60_000).catch((err: Error) => {
    const recent = d.logs.slice(-8).map((l) => JSON.stringify(l)).join('\n');
    throw new Error(`${err.message}; last counts ${JSON.stringify(last)}, node ${d.process.exitCode === null ? 'running' : `exited ${d.process.exitCode}`}; last log lines:\n${recent}`);
  });
}

/**
 * Another process holding the write lock of the node's database (BEGIN IMMEDIATE) for `ms`:
 * resolves once the lock is held; `released` resolves when it was given back.
 */
async function holdWriteLock(dbPath: string, ms: number): Promise<{ released: Promise<void> }> {
  const script = `
    const db = new (require('better-sqlite3'))(process.argv[1]);
    db.pragma('busy_timeout = 10000');
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n');
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, Number(process.argv[2]));`;
  const child = spawn(process.execPath, ['-e', script, dbPath, String(ms)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  const released = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  deferCleanup(() => {
    child.kill('SIGKILL');
    return released;
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`lock holder exited (${code}) before locking`)));
  });
  return { released };
}

test('the database locked by another process past busy_timeout: C-STOREs wait, then get 0xA700; result commits are retried; nothing lost', async () => {
  const dir = tempDir();
  // No hold: slices are classified while the transfer runs, so result commits meet the lock.
  const d = await node({ series: { idleSeconds: 2 }, model: { holdWhileReceivingMs: 0 } });
  // Long enough that the transfer is still running once the lock is taken (150 slices could
  // all be acknowledged by then on a busy 2-core host).
  const series = syntheticSeries({ slices: 400, rows: 512, columns: 512 });
  const stats = newSenderStats();
  let sent = false;
  const sending = sendUntilAcknowledged(d.port, writeSlices(path.join(dir, 'in'), series), 'SCANNER', stats).then(() => void (sent = true));
  // Mid-transfer, with slices waiting for classification: the lock makes the next C-STOREs wait
  // busy_timeout (5 s, the event loop waiting with them) and fail with 0xA700, and so do the
  // commits of classification results (which ended the process before: an unhandled rejection).
  // 16 s: three waits in a row, so that a result commit is among the ones that fail.
  await eventually('10 slices stored and some waiting for classification', () => {
    const c = counts(d);
    return (c.states['received'] ?? 0) > 0 && (c.states['received'] ?? 0) + (c.states['classified'] ?? 0) >= 10;
  });
  const lock = await holdWriteLock(d.dbPath, 16_000);
  expect(sent, 'the transfer should still be running when the lock is taken').toBe(false);
  await Promise.all([sending, lock.released]);
  const c = await allDecided(d, [series]);

  expect(d.process.exitCode).toBeNull();
  expect(c.states).toEqual({ classified: series.length });
  expect(stats.statuses.get('Refused: OutOfResources')).toBeGreaterThanOrEqual(1);
  const refused = d.logs.filter((l) => l.msg === 'instance refused');
  expect(refused.length).toBeGreaterThanOrEqual(1);
  for (const l of refused) expect(l.reason).toBe('cannot record instance: database is locked');
  const retriedBatches = d.logs.filter((l) => l.msg === 'cannot store the results of a batch; its slices will be classified again').length;
  expect(retriedBatches).toBeGreaterThanOrEqual(1);
  // Nothing left half-written; one row per instance.
  expect(partialSpoolFiles(d.dataDir)).toEqual([]);
  console.log(
    `database busy: lock held 16 s mid-transfer; responses ${JSON.stringify(Object.fromEntries(stats.statuses))}; ` +
      `${refused.length} C-STOREs refused 0xA700; ${retriedBatches} classification batches retried; ${series.length} slices classified, series decided`,
  );
}, 180_000);

const asRoot = process.getuid?.() === 0;

test.skipIf(!asRoot)('the disk full for real (ENOSPC on a tmpfs, no watermark): 0xA700 with the reason, no partial files; once space is back the sender\'s retries are stored', async () => {
  const dir = tempDir();
  const mount = path.join(dir, 'mnt');
  mkdirSync(mount);
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mount]);
  } catch (err) {
    console.warn(`skipped: cannot mount a tmpfs (${(err as Error).message.split('\n')[0]})`);
    return;
  }
  deferCleanup(() => run('umount', ['-l', mount]).then(() => undefined));
  const dataDir = path.join(mount, 'data');
  // minFreeMb 0: the watermark does not step in, writes meet ENOSPC.
  const d = await node({ storage: { dataDir, minFreeMb: 0 }, series: { idleSeconds: 2 } });
  // Leave room for a few 512x512 slices (~0.5 MiB each) besides the database.
  writeFileSync(path.join(mount, 'ballast'), Buffer.alloc(12 * 1024 * 1024));
  const series = syntheticSeries({ slices: 16, rows: 512, columns: 512 });
  const files = writeSlices(path.join(dir, 'in'), series);
  const stats = newSenderStats();
  const sending = sendUntilAcknowledged(d.port, files, 'SCANNER', stats);
  await d.waitForLog((l) => l.msg === 'instance refused' && String(l.reason).includes('ENOSPC'), 60_000);
  // (A transfer in flight has a partial file now: bytes are written as they arrive. What a
  // refusal leaves is checked once the sender is done, below.)
  rmSync(path.join(mount, 'ballast'));
  await sending;
  const c = await allDecided(d, [series]);

  expect(d.process.exitCode).toBeNull();
  expect(c.states).toEqual({ classified: series.length });
  expect(stats.statuses.get('Refused: OutOfResources')).toBeGreaterThanOrEqual(1);
  const reasons = new Set(d.logs.filter((l) => l.msg === 'instance refused').map((l) => String(l.reason)));
  for (const r of reasons) expect(r).toMatch(/^(cannot store spool file: ENOSPC|cannot record instance: .*(full|disk))/);
  expect(partialSpoolFiles(dataDir)).toEqual([]);
  console.log(`disk full: responses ${JSON.stringify(Object.fromEntries(stats.statuses))}; reasons ${JSON.stringify([...reasons])}; ${series.length} slices classified after space came back`);
}, 180_000);
if (!asRoot) console.warn('skipped: the disk-full test needs root to mount a tmpfs');

test('the PACS goes away in the middle of a run and the mail server answers 451 for a while: retried, each output delivered once when they are back', async () => {
  const dir = tempDir();
  const smtp = await smtpSink();
  const pacs = await pacsIn(dir, 'PACS');
  const d = await node(scenarioConfig({ pacs, smtpPort: smtp.port, thresholds: urgentThresholds }));
  const stats = newSenderStats();

  const first = syntheticSeries({ slices: 8 });
  await sendUntilAcknowledged(d.port, writeSlices(path.join(dir, 'first'), first, 'f'), 'SCANNER', stats);
  await settled(d, first[0]!.seriesUid);

  // The PACS stops and the mail server defers every message (a full queue, greylisting).
  await pacs.stop();
  smtp.rejectWith = { code: 451, message: '4.3.1 Insufficient system storage, try later' };
  const second = syntheticSeries({ slices: 8 });
  await sendUntilAcknowledged(d.port, writeSlices(path.join(dir, 'second'), second, 's'), 'SCANNER', stats);
  const uid = second[0]!.seriesUid;
  const failing = await eventually('SR, KOS and email of the second series each failed at least twice', () => {
    const { rows } = seriesOutputs(d, uid);
    return rows.length === 3 && rows.every((r) => r.state === 'pending' && r.attempts >= 2) && rows;
  });
  expect(failing.map((r) => r.kind).sort()).toEqual(['email', 'kos', 'sr']);
  const db = d.openDb();
  const errors = db.prepare('SELECT kind, last_error AS error, last_status AS status FROM outbox WHERE series_uid = ? ORDER BY kind').all(uid) as { kind: string; error: string; status: number | null }[];
  db.close();
  expect(errors.find((e) => e.kind === 'sr')!.error).toMatch(/^unreachable: /);
  expect(errors.find((e) => e.kind === 'email')).toMatchObject({ status: 451 });

  // Back on the same port; the mail server accepts again.
  const back = await pacsIn(dir, 'PACS', pacs.port);
  smtp.rejectWith = null;
  const { rows } = await settled(d, uid);
  for (const r of rows) expect(r.attempts).toBeGreaterThan(2);
  const received = receivedObjects(back.dir);
  const forSecond = received.filter((o) => o.dataset.StudyInstanceUID === second[0]!.studyUid);
  expect(forSecond.map((o) => o.sopClassUid).sort()).toEqual([SopClass.comprehensiveSr, SopClass.kos]);
  expect(received.filter((o) => o.sopClassUid === SopClass.comprehensiveSr)).toHaveLength(2);
  expect(smtp.messages).toHaveLength(2);
  console.log(`PACS and SMTP outage: second series delivered after ${rows.map((r) => `${r.kind} ${r.attempts} attempts`).join(', ')}`);
}, 180_000);
