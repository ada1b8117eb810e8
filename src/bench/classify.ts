import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import ort from 'onnxruntime-node';
import { loadModelContract } from '../inference/contract.js';
import { loadConfig } from '../config/load.js';
import { exampleConfigPath } from '../cli/context.js';
import { Worker } from 'node:worker_threads';
import { defaultBatchSize, workerPlan } from '../inference/engine.js';
import { providerOption } from '../inference/providers.js';
import type { ProviderName } from '../config/schema.js';
import { packageRoot, run, startNode, freePort } from './processes.js';
import { median } from './ingest.js';
import { dbFileName } from '../store/db.js';
import { syntheticSeries, writeSlices } from '../dicom/syntheticCt.js';

export interface ClassifyBenchOptions {
  modelPath: string;
  dataDir: string;
  /** Total threads for both measurements (model.threads); 0: all cores. */
  threads: number;
  /** Measurements of each kind, interleaved; the medians count. */
  rounds: number;
  log: (line: string) => void;
}

export interface ClassifyBenchResult {
  slices: number;
  rawSlicesPerSecond: number;
  endToEndSlicesPerSecond: number;
  /** Median over the rounds of each round's end-to-end / raw. */
  ratio: number;
  peakRssMb: number;
  eventLoopMaxDelayMs: number;
}

interface EndToEnd {
  slicesPerSecond: number;
  seconds: number;
  sentSeconds: number;
  /** Slices whose results were stored before storescu ended. */
  classifiedWhileSent: number;
  preprocessMs: number;
  inferenceMs: number;
  peakRssMb: number;
  eventLoopMaxDelayMs: number;
}

/**
 * Raw ONNX throughput of the model alone (one session, the same thread count, random input,
 * the node's CPU batch size) against end to end: storescu start to the last slice result
 * stored by a freshly started node, with the node's peak RSS and its event loop's longest
 * delay meanwhile. Each round measures raw, the node's layout and end to end back to back, so
 * that a ratio compares figures of the same minute (these machines' speed drifts by tens of
 * percent between minutes); the medians over the rounds count.
 */
export async function runClassifyBench(o: ClassifyBenchOptions): Promise<ClassifyBenchResult> {
  const threads = o.threads > 0 ? o.threads : os.availableParallelism();
  const contract = loadModelContract(o.modelPath);
  const work = mkdtempSync(path.join(os.tmpdir(), 'ich-bench-classify-'));
  try {
    const files = inputFiles(o.dataDir, work, o.log);
    const batch = defaultBatchSize('cpu');
    const plan = workerPlan(['cpu'], threads);
    const model = { modelPath: o.modelPath, channels: contract.input.windows.length, size: contract.input.size, slices: files.length, provider: 'cpu' as const, batch };
    o.log(`classify: ${files.length} slices, ${contract.info.name} ${contract.info.version}, ${o.rounds} rounds of raw (1 session x ${threads} threads, batch ${batch}), ` +
      `raw in the node's layout (${plan.workers} sessions x ${plan.intraOpThreads} thread(s) at once) and end to end (storescu start to last result stored)`);
    const rounds: { raw: number; layout: number; e2e: EndToEnd }[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      const raw = await rawThroughput({ ...model, threads });
      const layout = await rawThroughputOfPlan({ ...model, threads: plan.intraOpThreads, workers: plan.workers });
      const e2e = await endToEnd(o.modelPath, threads, files, path.join(work, `node-${round}`));
      rounds.push({ raw, layout, e2e });
      o.log(
        `classify: round ${round}: raw ${raw.toFixed(1)}, layout ${layout.toFixed(1)}, end to end ${e2e.slicesPerSecond.toFixed(1)} slices/s ` +
          `(${e2e.seconds.toFixed(2)} s: storescu sent for ${e2e.sentSeconds.toFixed(2)} s, ${e2e.classifiedWhileSent} slices classified meanwhile, ` +
          `the other ${files.length - e2e.classifiedWhileSent} in ${(e2e.seconds - e2e.sentSeconds).toFixed(2)} s); ratio ${(e2e.slicesPerSecond / raw).toFixed(2)}, to the layout ${(e2e.slicesPerSecond / layout).toFixed(2)}`,
      );
    }
    const mid = (f: (r: (typeof rounds)[number]) => number) => median(rounds.map(f));
    const result: ClassifyBenchResult = {
      slices: files.length,
      rawSlicesPerSecond: mid((r) => r.raw),
      endToEndSlicesPerSecond: mid((r) => r.e2e.slicesPerSecond),
      ratio: mid((r) => r.e2e.slicesPerSecond / r.raw),
      peakRssMb: Math.max(...rounds.map((r) => r.e2e.peakRssMb)),
      eventLoopMaxDelayMs: Math.max(...rounds.map((r) => r.e2e.eventLoopMaxDelayMs)),
    };
    o.log(`raw ONNX: ${result.rawSlicesPerSecond.toFixed(1)} slices/s; in the node's layout: ${mid((r) => r.layout).toFixed(1)} (medians)`);
    o.log(`end to end: ${result.endToEndSlicesPerSecond.toFixed(1)} slices/s (median)`);
    o.log(`ratio end-to-end / raw: ${result.ratio.toFixed(2)} (median of the rounds' ratios; target >= 0.85); to the node's layout: ${mid((r) => r.e2e.slicesPerSecond / r.layout).toFixed(2)}`);
    o.log(
      `end to end, where the time went: per slice ${mid((r) => r.e2e.preprocessMs).toFixed(2)} ms preprocessing + ${mid((r) => r.e2e.inferenceMs).toFixed(2)} ms inference ` +
        `in a worker (raw in the node's layout: ${mid((r) => (1000 * plan.workers) / r.layout).toFixed(2)} ms a slice per session); ` +
        `storescu sending took ${mid((r) => (100 * r.e2e.sentSeconds) / r.e2e.seconds).toFixed(0)}% of end to end, with ${mid((r) => r.e2e.classifiedWhileSent)} slices classified meanwhile`,
    );
    o.log(`node peak RSS: ${result.peakRssMb.toFixed(0)} MB (target <= 1024); event loop max delay: ${result.eventLoopMaxDelayMs.toFixed(1)} ms (target <= 50); highest of the rounds`);
    o.log(`load average: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** One freshly started node classifying `files` as storescu sends them. */
async function endToEnd(modelPath: string, threads: number, files: readonly string[], dir: string): Promise<EndToEnd> {
  const httpPort = await freePort();
  const node = await startNode(dir, {
    dicom: { aeTitle: 'ICH_TRIAGE', host: '127.0.0.1', port: 0, maxPduLength: 131072 },
    storage: { dataDir: path.join(dir, 'data'), minFreeMb: 0 },
    model: { path: modelPath, threads },
    http: { host: '127.0.0.1', port: httpPort },
    logging: { level: 'info' },
  });
  try {
    // A scrape resets the node's event-loop delay histogram: the next one covers the run.
    await scrape(httpPort);
    const db = new Database(path.join(dir, 'data', dbFileName), { readonly: true });
    try {
      const count = db.prepare('SELECT count(*) AS n FROM slice_results').pluck();
      const started = performance.now();
      let sentSeconds = NaN;
      let sentAt = NaN;
      const sending = run('storescu', ['--max-pdu', '131072', '-aec', 'ICH_TRIAGE', '127.0.0.1', String(node.port), ...files]).then(() => {
        sentSeconds = (performance.now() - started) / 1000;
        sentAt = Date.now();
      });
      while ((count.get() as number) < files.length) await new Promise((r) => setTimeout(r, 10));
      const seconds = (performance.now() - started) / 1000;
      await sending;
      // Where the time went: each slice's preprocessing (read, decode, HU, windows, resize) and its
      // share of session.run, as the node recorded them.
      const perSlice = db.prepare('SELECT avg(preprocess_ms) AS preprocessMs, avg(inference_ms) AS inferenceMs FROM slice_results').get() as { preprocessMs: number; inferenceMs: number };
      const metrics = await scrape(httpPort);
      return {
        slicesPerSecond: files.length / seconds,
        seconds,
        sentSeconds,
        classifiedWhileSent: db.prepare('SELECT count(*) FROM slice_results WHERE created_at <= ?').pluck().get(sentAt) as number,
        ...perSlice,
        peakRssMb: peakRss(node.pid),
        eventLoopMaxDelayMs: Number(/^ich_triage_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(metrics)?.[1] ?? NaN) * 1000,
      };
    } finally {
      db.close();
    }
  } finally {
    await node.stop();
  }
}

/** The real series when present (>= 200 slices), else as many synthetic 512x512 slices. */
function inputFiles(dataDir: string, work: string, log: (line: string) => void): string[] {
  if (existsSync(dataDir)) {
    const files = readdirSync(dataDir).flatMap((s) => readdirSync(path.join(dataDir, s)).map((f) => path.join(dataDir, s, f)));
    if (files.length >= 200) return files;
  }
  log(`${dataDir} is absent: using 234 synthetic 512x512 slices`);
  return writeSlices(path.join(work, 'synthetic'), syntheticSeries({ slices: 234, rows: 512, columns: 512 }));
}

export interface RawOptions {
  modelPath: string;
  /** The model's input: channels and square size. */
  channels: number;
  size: number;
  /** Intra-op threads of the one session. */
  threads: number;
  /** About how many slices to run through it (whole batches). */
  slices: number;
  provider: ProviderName;
  batch: number;
}

/** Slices/s of session.run alone on random input, after one warm-up run. */
export async function rawThroughput({ modelPath, channels, size, threads, slices, provider, batch }: RawOptions): Promise<number> {
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: [providerOption(provider, 0)],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const input = new Float32Array(batch * channels * size * size).map(() => Math.random());
  const feed = { [session.inputNames[0]!]: new ort.Tensor('float32', input, [batch, channels, size, size]) };
  await session.run(feed); // warm-up
  const runs = Math.ceil(slices / batch);
  const started = performance.now();
  for (let i = 0; i < runs; i++) await session.run(feed);
  const seconds = (performance.now() - started) / 1000;
  await session.release();
  return (runs * batch) / seconds;
}

/**
 * The node's CPU layout (workerPlan): `workers` sessions of `threads` threads each, each in its
 * own thread, running at once; the sum of their slices/s.
 */
export async function rawThroughputOfPlan(o: RawOptions & { workers: number }): Promise<number> {
  const { workers, ...one } = o;
  const each = { ...one, slices: Math.ceil(o.slices / workers) };
  const rates = await Promise.all(
    Array.from({ length: workers }, () =>
      new Promise<number>((resolve, reject) => {
        const worker = new Worker(new URL('./rawWorker.js', import.meta.url), { workerData: each });
        worker.once('message', (rate: number) => void worker.terminate().then(() => resolve(rate)));
        worker.once('error', reject);
      }),
    ),
  );
  return rates.reduce((a, b) => a + b, 0);
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

/** VmHWM: the process's peak resident set (worker threads included), in MB. */
function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024;
}

/** The shipped model of the example config, or the tiny test model while none is shipped. */
export function defaultModelPath(): string {
  const shipped = loadConfig(exampleConfigPath).config.model.path;
  return existsSync(shipped) ? shipped : path.join(packageRoot, 'test/fixtures/models/tiny-ich.onnx');
}
