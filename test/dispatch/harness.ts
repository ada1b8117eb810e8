// The dispatch tests' common scenario: peers and a node started per test and torn down after it, the node's config pointing at them, series sent with storescu, and waits on the node's outbox.
import { expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { storescu, storeResponses } from '../helpers/dcmtk.js';
import { writeSlices, type Slice } from '../helpers/synthetic.js';
import { startSmtpSink, type SmtpSink } from '../../src/bench/smtpSink.js';
import { eventually, outboxRows, startPacs, type Pacs } from './peers.js';

const cleanups: Array<() => Promise<unknown> | void> = [];

/** Register with `afterEach(tearDown)`: stops what the test started, last first. */
export async function tearDown(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c();
}

export function deferCleanup(c: () => Promise<unknown> | void): void {
  cleanups.push(c);
}

/** PHI in the synthetic sources, and how it could show up in an email. */
export const phi = { patientName: 'Doe^Jane', patientId: 'PID-4711', patientBirthDate: '19500704' };
export const phiStrings = ['Doe', 'Jane', 'PID-4711', '19500704', '1950-07-04'];

/**
 * The tiny test model's probabilities on synthetic images are arbitrary, so tests force the
 * decision: "any" at 0 makes every series urgent, every class at 1 makes every series negative.
 */
export const urgentThresholds = { any: 0 };
export const negativeThresholds = Object.fromEntries(['any', 'epidural', 'intraparenchymal', 'intraventricular', 'subarachnoid', 'subdural'].map((c) => [c, 1]));

export function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ich-dispatch-'));
  deferCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function smtpSink(port?: number): Promise<SmtpSink> {
  const smtp = await startSmtpSink(port);
  deferCleanup(() => smtp.close());
  return smtp;
}

/** A storescp PACS writing into `<dir>/<aetitle>`; `port` brings it up where the node already points. */
export async function pacsIn(dir: string, aeTitle: string, port?: number): Promise<Pacs> {
  const pacs = await startPacs(path.join(dir, aeTitle.toLowerCase()), aeTitle, port);
  deferCleanup(() => pacs.stop());
  return pacs;
}

export async function node(config: Record<string, unknown>): Promise<TestDaemon> {
  const d = await startDaemon({ config });
  deferCleanup(() => d.cleanup());
  return d;
}

export interface ScenarioPeers {
  pacs: { aeTitle: string; port: number };
  smtpPort: number;
  thresholds: Record<string, number>;
  router?: Pacs;
  alerts?: Record<string, unknown>;
}

/** Config overrides: idleSeconds 1 and a fast retry policy, so outages resolve within seconds. */
export function scenarioConfig(o: ScenarioPeers) {
  return {
    model: { thresholds: o.thresholds },
    series: { idleSeconds: 1 },
    destinations: [
      { name: 'pacs', aeTitle: o.pacs.aeTitle, host: '127.0.0.1', port: o.pacs.port, send: ['sr', 'kos'] },
      ...(o.router ? [{ name: 'router', aeTitle: o.router.aeTitle, host: '127.0.0.1', port: o.router.port, send: [], forward: true }] : []),
    ],
    email: { enabled: true, smtp: { host: '127.0.0.1', port: o.smtpPort }, to: ['oncall@hospital.example'], onlyUrgent: true },
    dispatch: { retry: { initialSeconds: 0.5, maxSeconds: 2, maxAttempts: 20 } },
    ...(o.alerts ? { alerts: o.alerts } : {}),
  };
}

/** storescu in one association; every slice must be acknowledged. */
export async function send(d: TestDaemon, dir: string, slices: readonly Slice[], prefix: string): Promise<void> {
  const r = await storescu({ port: d.port }, writeSlices(path.join(dir, 'in'), slices, prefix));
  expect(r.code, r.output).toBe(0);
  expect(storeResponses(r.stderr).filter((x) => x.status === 'Success')).toHaveLength(slices.length);
}

/** Resolves once the series has `count` outbox rows and all of them are sent. */
export function allSent(d: TestDaemon, seriesUid: string, count: number) {
  return eventually(`${count} sent outbox rows for the series`, () => {
    const rows = outboxRows(d).filter((r) => r.series_uid === seriesUid);
    return rows.length === count && rows.every((r) => r.state === 'sent') && rows;
  });
}

export interface SeriesState {
  state: string;
  revision: number;
  decision: string;
  decidedAt: number;
}

export interface QueuedOutput {
  key: string;
  kind: string;
  state: string;
  attempts: number;
  createdAt: number;
  payload: string | null;
}

/** The series row and its outbox rows, read in one go. */
export function seriesOutputs(d: TestDaemon, seriesUid: string): { series: SeriesState | undefined; rows: QueuedOutput[] } {
  const db = d.openDb();
  try {
    const series = db.prepare('SELECT state, revision, decision, decided_at AS decidedAt FROM series WHERE series_uid = ?').get(seriesUid) as SeriesState | undefined;
    const rows = db
      .prepare('SELECT key, kind, state, attempts, created_at AS createdAt, payload FROM outbox WHERE series_uid = ? ORDER BY id')
      .all(seriesUid) as QueuedOutput[];
    return { series, rows };
  } finally {
    db.close();
  }
}

/** Resolves once the series is decided and every output queued for it is sent (or, for the keys in `failing`, failed). */
export function settled(d: TestDaemon, seriesUid: string, failing: readonly string[] = []) {
  return eventually('the series decided and its outputs sent', () => {
    const { series, rows } = seriesOutputs(d, seriesUid);
    const srQueued = rows.some((r) => r.key.startsWith(`sr:${seriesUid}:r${series?.revision}:`));
    const done = rows.every((r) => r.state === (failing.includes(r.key) ? 'failed' : 'sent'));
    return series?.state === 'decided' && srQueued && done && { series, rows };
  });
}
