import { afterEach, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDaemon, mainJs, type TestDaemon } from '../helpers/daemon.js';
import { storescu, storeResponses, dcmtkEnv, storescuArgs, startTool } from '../helpers/dcmtk.js';
import { syntheticSeries, writeSlices } from '../helpers/synthetic.js';

// /healthz, /metrics, /status and `ich-triage status` against a running node; the disk
// watermark on a small file system; reload without dropping an association.

const run = promisify(execFile);
const daemons: TestDaemon[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.cleanup()));
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(config: Record<string, unknown> = {}): Promise<TestDaemon> {
  const d = await startDaemon({ config });
  daemons.push(d);
  return d;
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ich-ops-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function get(d: TestDaemon, pathname: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${d.httpPort}${pathname}`);
  return { status: res.status, text: await res.text() };
}

function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}

test('healthz, metrics and status while studies flow', async () => {
  const d = await start({ series: { idleSeconds: 1 } });
  const health = await get(d, '/healthz');
  expect(health.status).toBe(200);
  expect(JSON.parse(health.text)).toMatchObject({ status: 'ok', failed: [], checks: { scp: { ok: true }, database: { ok: true }, model: { ok: true, provider: 'cpu' }, disk: { ok: true } } });

  const dir = tempDir();
  const series = syntheticSeries({ slices: 10 });
  await storescu({ port: d.port }, writeSlices(dir, series));
  await d.waitForLog((l) => l.msg === 'series decided', 30_000);
  const m = (await get(d, '/metrics')).text;
  expect(metric(m, 'ich_triage_instances_received_total', '{status="success"}')).toBe(10);
  expect(metric(m, 'ich_triage_associations_total', '{outcome="accepted"}')).toBe(1);
  expect(metric(m, 'ich_triage_received_bytes_total')).toBeGreaterThan(10 * 64 * 64 * 2);
  expect(metric(m, 'ich_triage_slice_classification_seconds_count')).toBe(10);
  expect(m).toMatch(/^ich_triage_series_decided_total\{outcome="(urgent|negative)"\} 1$/m);
  expect(metric(m, 'ich_triage_queue_depth', '{queue="classify"}')).toBe(0);
  expect(m).toMatch(/^ich_triage_model_info\{name="tiny-ich",version="0\.1\.0",sha256="[0-9a-f]{64}",provider="cpu",fallbacks=""\} 1$/m);
  expect(m).toMatch(/^ich_triage_nodejs_eventloop_lag_max_seconds \d/m);
  expect(m).toMatch(/^ich_triage_outbox_rows\{state="pending"\} 0$/m);

  // A refused association is counted by reason.
  await storescu({ port: d.port, calledAe: 'NOT_US' }, []).catch(() => undefined);
  await run('echoscu', ['-aec', 'NOT_US', '127.0.0.1', String(d.port)], { env: dcmtkEnv }).catch(() => undefined);
  const m2 = (await get(d, '/metrics')).text;
  expect(metric(m2, 'ich_triage_rejections_total', '{reason="called_ae"}')).toBeGreaterThanOrEqual(1);

  const status = JSON.parse((await run(process.execPath, [mainJs, 'status', '--json', '--config', d.configFile])).stdout);
  expect(status.node).toMatchObject({ activeAssociations: 0, model: { name: 'tiny-ich', provider: 'cpu', demo: true } });
  expect(status.queues).toEqual({ slicesWaiting: 0, seriesOpen: 0, outboxPending: 0 });
  expect(status.last24h.instances).toBe(10);
  expect(status.lastSeries[0]).toMatchObject({ seriesUid: series[0]!.seriesUid, state: 'decided' });
  const text = (await run(process.execPath, [mainJs, 'status', '--config', d.configFile])).stdout;
  expect(text).toMatch(/^node: up \d+ s, 0 association\(s\), model tiny-ich 0\.1\.0 on cpu \(demonstration model, not for clinical use\)$/m);

  // The node down: status still reads the database.
  await d.stop();
  const offline = JSON.parse((await run(process.execPath, [mainJs, 'status', '--json', '--config', d.configFile])).stdout);
  expect(offline.node).toBeNull();
  expect(offline.last24h.instances).toBe(10);
});

const asRoot = process.getuid?.() === 0;
test.skipIf(!asRoot)('below storage.minFreeMb new C-STOREs get 0xA700 with a log line and a metric; the node recovers by itself', async () => {
  const mount = tempDir();
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mount]);
  } catch (err) {
    console.warn(`skipped: cannot mount a tmpfs (${(err as Error).message.split('\n')[0]})`);
    return;
  }
  cleanups.push(() => run('umount', ['-l', mount]).then(() => undefined));
  const dataDir = path.join(mount, 'data');
  mkdirSync(dataDir);
  // Fill the file system to just above the watermark.
  writeFileSync(path.join(mount, 'ballast'), Buffer.alloc(14 * 1024 * 1024));
  const d = await start({ storage: { dataDir, minFreeMb: 6 } });
  const dir = tempDir();
  const slices = writeSlices(dir, syntheticSeries({ slices: 40, rows: 256, columns: 256 }));
  const first = await storescu({ port: d.port }, slices, ['-v']);
  const statuses = storeResponses(first.stderr).map((r) => r.status);
  expect(statuses).toContain('Success');
  await d.waitForLog((l) => l.msg === 'disk space low: refusing new instances (0xA700)', 30_000);
  const refused = await storescu({ port: d.port }, slices.slice(0, 3), ['-v']);
  expect(storeResponses(refused.stderr).map((r) => r.status)).toEqual(expect.arrayContaining([expect.stringMatching(/Out ?of ?Resources/i)]));
  const health = await get(d, '/healthz');
  expect(health.status).toBe(503);
  expect(JSON.parse(health.text).failed).toEqual(['disk']);
  expect(metric((await get(d, '/metrics')).text, 'ich_triage_disk_low')).toBe(1);

  rmSync(path.join(mount, 'ballast'));
  await d.waitForLog((l) => l.msg === 'disk space recovered: accepting instances', 30_000);
  const again = syntheticSeries({ slices: 2 });
  const ok = await storescu({ port: d.port }, writeSlices(path.join(dir, 'again'), again), ['-v']);
  expect(storeResponses(ok.stderr).map((r) => r.status)).toEqual(['Success', 'Success']);
  expect((await get(d, '/healthz')).status).toBe(200);
}, 120_000);
if (!asRoot) console.warn('skipped: disk watermark test needs root to mount a tmpfs');

test('SIGHUP reloads config and model without dropping an association in flight', async () => {
  const d = await start({ series: { idleSeconds: 30 } });
  const dir = tempDir();
  const files = writeSlices(dir, syntheticSeries({ slices: 150 }));
  // storescu in the background, reload while it sends.
  const sender = startTool('storescu', storescuArgs({ port: d.port }, files, ['-v']));
  await d.waitForLog((l) => l.msg === 'instance stored', 30_000);
  const config = JSON.parse(readFileSync(d.configFile, 'utf8'));
  config.model.thresholds = { any: 0.123 };
  config.logging.level = 'info';
  writeFileSync(d.configFile, JSON.stringify(config));
  d.process.kill('SIGHUP');
  const reloaded = await d.waitForLog((l) => l.msg === 'config reloaded', 30_000);
  expect(reloaded['modelReloaded']).toBe(true);
  const sent = await sender.done;
  expect(sent.code).toBe(0);
  expect(storeResponses(sent.stderr).filter((r) => r.status === 'Success')).toHaveLength(150);
  const loaded = d.logs.filter((l) => l.msg === 'model loaded');
  expect(loaded.at(-1)!['thresholds']).toMatchObject({ any: 0.123 });
  // A broken config is refused and the node keeps running on the old one.
  writeFileSync(d.configFile, 'dicom: [not, a, map]');
  d.process.kill('SIGHUP');
  await d.waitForLog((l) => l.msg === 'reload refused: config invalid, keeping the running one', 30_000);
  expect((await get(d, '/healthz')).status).toBe(200);
}, 120_000);
