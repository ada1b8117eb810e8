import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { dbFileName } from '../store/db.js';
import { syntheticSeries } from '../dicom/syntheticCt.js';
import { dcmtkEnv, packageRoot, startNode } from './processes.js';
import { fmtLoad, pipelineIdle } from './ingest.js';

/**
 * Load: `associations` dcmtk storescu processes at once, each sending its own series of
 * `slicesPerAssociation` slices to the whole node (classification running beside ingest).
 * Figures: instances/s over the run, the node's peak RSS (VmHWM) against the bytes it
 * received (instances stream to disk, never a study in memory), the largest event-loop delay
 * during the run (the node's own monitor, read from /metrics), and whether every acknowledged
 * instance is in the database and the spool.
 */

export interface LoadBenchOptions {
  associations: number;
  slicesPerAssociation: number;
  /** Slice size; 512 is a real CT slice (525 KB). */
  rows: number;
  modelPath: string;
  maxPdu: number;
  /** Also wait until every slice is classified and report when. */
  waitForClassification: boolean;
  log: (line: string) => void;
}

export interface LoadBenchResult {
  instances: number;
  acknowledged: number;
  /** Acknowledged instances with a database row and a spool file. */
  stored: number;
  seconds: number;
  instancesPerSecond: number;
  receivedMiB: number;
  rssBeforeMiB: number;
  peakRssMiB: number;
  maxEventLoopDelayMs: number;
  /** Seconds from the first slice until every slice was classified (when waited for). */
  classifiedAfterSeconds?: number;
}

const aeTitle = 'ICH_TRIAGE';

export const tinyModelPath = path.join(packageRoot, 'test/fixtures/models/tiny-ich.onnx');

export async function runLoadBench(o: LoadBenchOptions): Promise<LoadBenchResult> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'ich-bench-load-'));
  try {
    const { files, uids, bytes } = writeSeries(path.join(work, 'in'), o.associations, o.slicesPerAssociation, o.rows);
    const total = o.associations * o.slicesPerAssociation;
    o.log(
      `load: ${o.associations} associations x ${o.slicesPerAssociation} slices (${o.rows}x${o.rows}, ${(bytes / total / 1024).toFixed(0)} KB each, ${(bytes / 2 ** 20).toFixed(0)} MiB in all); ` +
        `storescu --max-pdu ${o.maxPdu}, TCP_NODELAY=1; the whole node, durability write, model ${path.basename(o.modelPath)}`,
    );
    o.log(`load: load average ${fmtLoad(os.loadavg())} on ${os.cpus().length} cores`);
    const dataDir = path.join(work, 'node', 'data');
    const node = await startNode(path.join(work, 'node'), {
      dicom: { aeTitle, host: '127.0.0.1', port: 0, maxPduLength: o.maxPdu, maxAssociations: o.associations + 4 },
      storage: { dataDir, durability: 'write', minFreeMb: 0 },
      model: { path: o.modelPath },
      http: { host: '127.0.0.1', port: 0 },
      logging: { level: 'info' },
    });
    try {
      const metrics = `http://127.0.0.1:${node.httpPort}/metrics`;
      // A scrape resets the node's event-loop delay histogram: the next one covers the run.
      await fetch(metrics).then((r) => r.text());
      const rssBefore = memory(node.pid).rss;
      const started = performance.now();
      const acknowledged = await Promise.all(files.map((f, i) => storescu(node.port, f, `LOAD_${i}`, o.maxPdu)));
      const seconds = (performance.now() - started) / 1000;
      const lag = Number(/^ich_triage_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(await fetch(metrics).then((r) => r.text()))?.[1] ?? NaN);
      const peak = memory(node.pid).peak;
      const stored = storedCount(dataDir, uids);
      const result: LoadBenchResult = {
        instances: total,
        acknowledged: acknowledged.reduce((a, b) => a + b, 0),
        stored,
        seconds,
        instancesPerSecond: total / seconds,
        receivedMiB: bytes / 2 ** 20,
        rssBeforeMiB: rssBefore / 2 ** 20,
        peakRssMiB: peak / 2 ** 20,
        maxEventLoopDelayMs: lag * 1000,
      };
      o.log(`load: ${result.acknowledged} of ${total} acknowledged, ${stored} of them in the database and the spool, in ${seconds.toFixed(1)} s: ${result.instancesPerSecond.toFixed(0)} instances/s, ${(result.receivedMiB / seconds).toFixed(0)} MiB/s`);
      o.log(`load: peak RSS ${result.peakRssMiB.toFixed(0)} MiB (${result.rssBeforeMiB.toFixed(0)} MiB before) while ${result.receivedMiB.toFixed(0)} MiB were received: instances stream to disk`);
      o.log(`load: max event-loop delay ${result.maxEventLoopDelayMs.toFixed(0)} ms during the run`);
      if (o.waitForClassification) {
        await pipelineIdle(path.join(dataDir, dbFileName), { series: false, timeoutMs: 600_000 });
        result.classifiedAfterSeconds = (performance.now() - started) / 1000;
        o.log(`load: every slice classified ${result.classifiedAfterSeconds.toFixed(1)} s after the first was sent (the backlog waits in SQLite, not in memory)`);
      }
      return result;
    } finally {
      await node.stop();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * One series per association. A synthetic slice costs ~14 ms at 512x512, so one template
 * series is made and each association's copy gets new UIDs of the same length, replaced in the
 * bytes (the files stay valid: no length changes).
 */
function writeSeries(dir: string, associations: number, slices: number, rows: number): { files: string[][]; uids: string[]; bytes: number } {
  const template = syntheticSeries({ slices, rows, columns: rows });
  const uids: string[] = [];
  let bytes = 0;
  const files = Array.from({ length: associations }, (_, k) => {
    const folder = path.join(dir, `a${k}`);
    mkdirSync(folder, { recursive: true });
    const renamed = new Map([template[0]!.seriesUid, template[0]!.studyUid].map((u) => [u, sameLengthUid(u)]));
    return template.map((slice, i) => {
      const sop = sameLengthUid(slice.sopInstanceUid);
      uids.push(sop);
      const file = path.join(folder, `${String(i).padStart(4, '0')}.dcm`);
      const copy = Buffer.from(slice.file);
      for (const [from, to] of [...renamed, [slice.sopInstanceUid, sop] as const]) replaceAll(copy, from, to);
      writeFileSync(file, copy);
      bytes += copy.length;
      return file;
    });
  });
  return { files, uids, bytes };
}

/** A new 2.25 UID as long as `uid` (its digits below 2^128: the first is 1 or 2 when 39 long). */
function sameLengthUid(uid: string): string {
  const digits = uid.length - 5;
  let s = String(1 + Math.floor(Math.random() * (digits >= 39 ? 2 : 9)));
  while (s.length < digits) s += String(Math.floor(Math.random() * 10));
  return `2.25.${s}`;
}

function replaceAll(b: Buffer, from: string, to: string): void {
  const needle = Buffer.from(from, 'latin1');
  const value = Buffer.from(to, 'latin1');
  for (let at = b.indexOf(needle); at >= 0; at = b.indexOf(needle, at + needle.length)) value.copy(b, at);
}

/** storescu -v over one association; resolves with the number of Success responses. */
function storescu(port: number, files: readonly string[], callingAe: string, maxPdu: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('storescu', ['-v', '--max-pdu', String(maxPdu), '-aet', callingAe, '-aec', aeTitle, '127.0.0.1', String(port), ...files], { env: dcmtkEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let success = 0;
    let rest = '';
    const count = (chunk: Buffer) => {
      const text = rest + chunk.toString();
      // A line may arrive in two chunks: keep the unfinished one.
      const cut = text.lastIndexOf('\n');
      success += (text.slice(0, cut + 1).match(/Received Store Response \(Success\)/g) ?? []).length;
      rest = text.slice(cut + 1);
    };
    child.stdout.on('data', count);
    child.stderr.on('data', count);
    child.once('error', reject);
    child.once('close', () => resolve(success + (rest.match(/Received Store Response \(Success\)/g) ?? []).length));
  });
}

/** VmRSS and VmHWM (the peak) of a process, in bytes. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** How many of `uids` have a row whose spool file exists with the size recorded. */
function storedCount(dataDir: string, uids: readonly string[]): number {
  const db = new Database(path.join(dataDir, dbFileName), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT path, size FROM instances WHERE sop_instance_uid = ?');
    return uids.filter((uid) => {
      const r = row.get(uid) as { path: string; size: number } | undefined;
      if (!r) return false;
      try {
        return statSync(path.join(dataDir, r.path)).size === r.size;
      } catch {
        return false;
      }
    }).length;
  } finally {
    db.close();
  }
}
