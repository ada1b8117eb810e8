import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { dbFileName } from '../store/db.js';
import { syntheticSeries, writeSlices } from '../dicom/syntheticCt.js';
import { nodeCommands, packageRoot, run, startNode, startStorescp } from './processes.js';

/**
 * Ingest throughput: the same slices sent by dcmtk storescu over one association to the node
 * (durability write, then fsync), to the node's ingest path alone (no classification running
 * beside it) and to dcmtk storescp, all writing every instance to disk.
 * Each target is measured `rounds` times in alternation, each time a fresh process on a fresh
 * data folder that first receives a warm-up batch of other (synthetic) slices, so that the
 * node's JIT compiler has run as it has in a node that has been up for a while. A ratio is taken
 * within each round (storescp measured in the same minute: these machines' speed drifts by tens
 * of percent between minutes), and the median of the rounds' ratios counts.
 */

export interface IngestBenchOptions {
  rounds: number;
  /** Folder of real series (one sub-folder per series). */
  dataDir: string;
  maxPdu: number;
  log: (line: string) => void;
}

export interface IngestBenchResult {
  instances: number;
  source: string;
  /** Instances per second, median over the rounds. */
  node: { write: number; fsync: number };
  ingestOnly: { write: number; fsync: number };
  storescp: number;
  /** To storescp: the median over the rounds of each round's ratio. */
  ratios: { node: { write: number; fsync: number }; ingestOnly: { write: number; fsync: number } };
  load: { before: number[]; after: number[] };
}

interface BenchTarget {
  start(dir: string): Promise<{ port: number; stop(): Promise<void> }>;
  /** What the target must finish after the warm-up before the timed run. */
  settle?(dir: string): Promise<void>;
}

const aeTitle = 'ICH_TRIAGE';
const minimumSlices = 200;
const warmUpSlices = 500;
/**
 * How long after a target's files are deleted the next timed run waits. Without a journal (as on
 * these machines' disks) ext4 skips inodes freed in the last 5 s (10 s while their block is
 * dirty) when it allocates one, inspecting each: right after the 734 files of a run were deleted,
 * creating a file took 330-520 us instead of 30-45 (measured). The next target paid that for
 * every instance, storescp inline, the node in its thread pool: whichever came next was slowed
 * by the benchmark itself.
 */
const recentDeletionMs = 10_500;
/** series.idleSeconds of a benchmarked node: its warm-up series are decided before the timed run. */
export const warmUpIdleSeconds = 1;

export const defaultIngestDataDir = path.resolve(packageRoot, '../shared/data/rsna-series');

export async function runIngestBench(o: IngestBenchOptions): Promise<IngestBenchResult> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'ich-bench-ingest-'));
  try {
    const { files, source } = sourceFiles(o.dataDir, path.join(work, 'synthetic'));
    const warmUp = syntheticSlices(warmUpSlices, path.join(work, 'warm-up'));
    o.log(`ingest: ${files.length} slices from ${source}; storescu, one association, --max-pdu ${o.maxPdu}, TCP_NODELAY=1`);
    o.log(`ingest: each target gets ${warmUp.length} other synthetic 512x512 slices first (not timed); the node classifies and decides them before the timed run`);
    const load = { before: os.loadavg(), after: [] as number[] };
    o.log(`ingest: load average ${fmtLoad(load.before)} on ${os.cpus().length} cores`);

    // The timed run starts on an idle node, as a study would: the whole node first classifies
    // and decides the warm-up series.
    const classified = (dir: string) => pipelineIdle(path.join(dir, 'data', dbFileName));
    // storescp runs between the two write targets, next to both in either order.
    const targets = {
      'node write': { start: (dir) => nodeTarget(nodeCommands.serve, dir, 'write', o.maxPdu), settle: classified },
      storescp: { start: (dir) => startStorescp(dir, aeTitle, o.maxPdu) },
      'ingest write': { start: (dir) => nodeTarget(nodeCommands.ingestOnly, dir, 'write', o.maxPdu) },
      'node fsync': { start: (dir) => nodeTarget(nodeCommands.serve, dir, 'fsync', o.maxPdu), settle: classified },
      'ingest fsync': { start: (dir) => nodeTarget(nodeCommands.ingestOnly, dir, 'fsync', o.maxPdu) },
    } satisfies Record<string, BenchTarget>;
    type Target = keyof typeof targets;
    const rates = Object.fromEntries(Object.keys(targets).map((k) => [k, [] as number[]])) as Record<Target, number[]>;
    let deletedAt = -Infinity;
    for (let round = 1; round <= o.rounds; round++) {
      // Alternate the order so that a burst of load elsewhere does not hit one target only.
      const names = Object.keys(targets) as Target[];
      const order = round % 2 === 1 ? names : [...names].reverse();
      for (const name of order) {
        const dir = path.join(work, `${name.replace(' ', '-')}-${round}`);
        const target: BenchTarget = targets[name];
        const running = await target.start(dir);
        try {
          await timeStorescu(running.port, warmUp, o.maxPdu);
          await target.settle?.(dir);
          // Dirty pages of the warm-up (or of the target before) are written back now, not
          // during the timed run, whichever target comes after which.
          await run('sync', []);
          await setTimeout(Math.max(0, deletedAt + recentDeletionMs - performance.now()));
          const seconds = await timeStorescu(running.port, files, o.maxPdu);
          rates[name].push(files.length / seconds);
          o.log(`ingest: round ${round} ${name.padEnd(12)} ${(files.length / seconds).toFixed(0).padStart(5)} instances/s  (load ${fmtLoad(os.loadavg())})`);
        } finally {
          await running.stop();
          rmSync(dir, { recursive: true, force: true });
          await run('sync', []);
          deletedAt = performance.now();
        }
      }
    }
    load.after = os.loadavg();
    const ratios = Object.fromEntries(Object.entries(rates).map(([name, r]) => [name, r.map((x, i) => x / rates.storescp[i]!)])) as Record<Target, number[]>;
    const ratio = (name: Target) => median(ratios[name]);
    const result: IngestBenchResult = {
      instances: files.length,
      source,
      node: { write: median(rates['node write']), fsync: median(rates['node fsync']) },
      ingestOnly: { write: median(rates['ingest write']), fsync: median(rates['ingest fsync']) },
      storescp: median(rates.storescp),
      ratios: {
        node: { write: ratio('node write'), fsync: ratio('node fsync') },
        ingestOnly: { write: ratio('ingest write'), fsync: ratio('ingest fsync') },
      },
      load,
    };
    for (let round = 0; round < o.rounds; round++) {
      const of = (name: Target) => ratios[name][round]!.toFixed(2);
      o.log(`ingest: round ${round + 1} ratios to storescp: node write ${of('node write')}, fsync ${of('node fsync')}; ingest path alone write ${of('ingest write')}, fsync ${of('ingest fsync')}`);
    }
    const line = (label: string, r: { write: number; fsync: number }, x: { write: number; fsync: number }) =>
      `ingest: ${label.padEnd(38)} write ${r.write.toFixed(0).padStart(4)}/s (${x.write.toFixed(2)}x), fsync ${r.fsync.toFixed(0).padStart(4)}/s (${x.fsync.toFixed(2)}x)`;
    o.log(`ingest: medians; in brackets the median of the rounds' ratios to storescp (target >= 0.8x); storescp ${result.storescp.toFixed(0)}/s`);
    o.log(line('node (ich-triage serve)', result.node, result.ratios.node));
    o.log(line('ingest path alone (no classification)', result.ingestOnly, result.ratios.ingestOnly));
    o.log(`ingest: load average ${fmtLoad(load.after)}`);
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The real slices when present (at least 200 of them), else synthetic 512x512 ones. */
function sourceFiles(dataDir: string, syntheticDir: string): { files: string[]; source: string } {
  if (existsSync(dataDir)) {
    const files = readdirSync(dataDir)
      .sort()
      .flatMap((s) => readdirSync(path.join(dataDir, s)).sort().map((f) => path.join(dataDir, s, f)));
    if (files.length >= minimumSlices) return { files, source: dataDir };
  }
  return { files: syntheticSlices(240, syntheticDir), source: `synthetic 512x512 slices (${dataDir} is absent or holds fewer than ${minimumSlices})` };
}

/** Head CT series of 40 slices, 512x512, written to `dir`. */
function syntheticSlices(count: number, dir: string): string[] {
  const slices = Array.from({ length: Math.ceil(count / 40) }, () => syntheticSeries({ slices: 40, rows: 512, columns: 512 })).flat();
  return writeSlices(dir, slices.slice(0, count));
}

async function nodeTarget(command: readonly string[], dir: string, durability: 'write' | 'fsync', maxPdu: number) {
  return startNode(dir, {
    dicom: { aeTitle, host: '127.0.0.1', port: 0, maxPduLength: maxPdu },
    storage: { dataDir: path.join(dir, 'data'), durability, minFreeMb: 0 },
    model: { path: path.join(packageRoot, 'test/fixtures/models/tiny-ich.onnx') },
    series: { idleSeconds: warmUpIdleSeconds },
    http: { host: '127.0.0.1', port: 0 },
    logging: { level: 'info' },
  }, command);
}

/**
 * Resolves once no instance waits for classification and, with `series`, no series waits for
 * its decision (give the node a short series.idleSeconds): the pipeline is idle.
 */
export async function pipelineIdle(dbPath: string, { series = true, timeoutMs = 300_000 } = {}): Promise<void> {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const open = series ? " + (SELECT count(*) FROM series WHERE state = 'open')" : '';
    const pending = db.prepare(`SELECT (SELECT count(*) FROM instances WHERE state = 'received')${open}`).pluck();
    for (const deadline = Date.now() + timeoutMs; (pending.get() as number) > 0; ) {
      if (Date.now() > deadline) throw new Error(`not every slice was classified${series ? ' and every series decided' : ''} within ${timeoutMs / 1000} s`);
      await setTimeout(250);
    }
  } finally {
    db.close();
  }
}

async function timeStorescu(port: number, files: readonly string[], maxPdu: number): Promise<number> {
  const start = performance.now();
  await run('storescu', ['--max-pdu', String(maxPdu), '-aet', 'BENCH', '-aec', aeTitle, '127.0.0.1', String(port), ...files]);
  return (performance.now() - start) / 1000;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function fmtLoad(load: readonly number[]): string {
  return load.map((l) => l.toFixed(2)).join(' ');
}
