/**
 * Execution providers compared on one host, through the real node (tools/gpu/device-run.sh runs
 * this on a GPU host; docs/gpu.md). For each provider: `ich-triage classify` over real slices and
 * phantoms (wall time, startup, steady slices/s, ms per slice), raw onnxruntime throughput of
 * the same model at the node's batch size (and a batch sweep), and an ingest run through the
 * node's SCP with end-to-end slices/s and its ratio to raw. Probabilities of each provider are
 * compared with the first one's. A provider that cannot start is recorded as unavailable and
 * the run goes on; stages that would start after the deadline are skipped, saying so.
 * Command line: providerBenchMain.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ProviderName } from '../config/schema.js';
import { loadModelContract, type ModelContract } from '../inference/contract.js';
import { defaultBatchSize } from '../inference/engine.js';
import { storeFiles } from '../dispatch/storeScu.js';
import { listFiles } from '../cli/classify.js';
import { rawThroughput } from './classify.js';
import { freePort, packageRoot, startNode, type RunningNode } from './processes.js';
import { syntheticSeries, writeSlices } from '../dicom/syntheticCt.js';

export interface ProviderBenchOptions {
  /** Figures (providers.json) and the real slices' classify outputs go here. */
  out: string;
  modelPath: string;
  /** A folder of real series (recursed); absent: phantoms only. */
  realDir?: string;
  /** Synthetic 512x512 slices, in series of 32, for volume. */
  phantoms: number;
  /** The first is the reference the others' probabilities are compared with. */
  providers: ProviderName[];
  /** Slices per raw measurement. */
  rawSlices: number;
  /** Date.now() after which no stage starts. */
  deadline: number;
  log: (line: string) => void;
}

export interface ClassifySlice {
  sopInstanceUid: string;
  seriesUid: string;
  probs: number[] | null;
  error: string | null;
  preprocessMs: number;
  inferenceMs: number;
}

/** What `ich-triage classify --json` prints, as far as the comparison reads it. */
export interface ClassifyOutput {
  slices: ClassifySlice[];
  series: Array<{ seriesUid: string; outcome: { kind: string; reason?: string; result?: { decision: string } } }>;
}

/** One `classify` run's figures. */
export interface ClassifyFigures {
  slices: number;
  failed: number;
  wallSeconds: number;
  /** Slices per second after startup: (slices - 1) / (wall - wall of a one-slice run); null when too few slices to tell. */
  steadySlicesPerSecond: number | null;
  preprocessMsPerSlice: number;
  /** The slice's share of session.run. */
  inferenceMsPerSlice: number;
}

export interface RawFigures {
  batch: number;
  slicesPerSecond: number;
  msPerSlice: number;
}

export interface IngestFigures {
  slices: number;
  stored: number;
  classified: number;
  seconds: number;
  /** First association opened to the last slice's result stored. */
  slicesPerSecond: number;
  /** End to end over raw at the node's batch size. */
  ratioToRaw: number | null;
}

type Stage<T> = T | { skipped: string } | { failed: string };

export interface ProviderFigures {
  /** A one-slice classify: process start, model load, session creation. */
  startupSeconds: number;
  classify: { real?: Stage<ClassifyFigures>; phantoms: Stage<ClassifyFigures> };
  raw: Stage<RawFigures & { sweep: RawFigures[] }>;
  ingest: Stage<IngestFigures>;
}

export interface Agreement {
  slices: number;
  maxAbsDiff: number;
  meanAbsDiff: number;
  /** Series whose decision (or skip) differs. */
  decisionsDiffer: number;
}

export interface ProviderBenchResult {
  host: { cpus: number; cpuModel: string; memoryGb: number; node: string; platform: string };
  model: { path: string; name: string; version: string; sha256: string; inputSize: number };
  providers: Partial<Record<ProviderName, ProviderFigures | { unavailable: string }>>;
  /** Per provider other than the reference: agreement with it on the real slices and the phantoms. */
  agreement: Partial<Record<ProviderName, { reference: ProviderName; real?: Agreement; phantoms?: Agreement }>>;
}

const mainJs = path.join(packageRoot, 'dist/cli/main.js');
const sweep = [1, 8, 32, 128];

export async function runProviderBench(o: ProviderBenchOptions): Promise<ProviderBenchResult> {
  mkdirSync(o.out, { recursive: true });
  const work = mkdtempSync(path.join(os.tmpdir(), 'ich-provider-bench-'));
  try {
    return await measureProviders(o, work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function measureProviders(o: ProviderBenchOptions, work: string): Promise<ProviderBenchResult> {
  const contract = loadModelContract(path.resolve(o.modelPath));
  const phantomFiles = makePhantoms(path.join(work, 'phantoms'), o.phantoms);
  const realFiles = o.realDir && existsSync(o.realDir) ? listFiles(o.realDir) : [];
  o.log(`model ${contract.info.name} ${contract.info.version} (input ${contract.input.size} px); ${realFiles.length} real slices, ${phantomFiles.length} phantoms; ${os.availableParallelism()} cores`);

  const result: ProviderBenchResult = {
    host: { cpus: os.availableParallelism(), cpuModel: os.cpus()[0]?.model ?? '', memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}/${process.arch}` },
    model: { path: contract.path, name: contract.info.name, version: contract.info.version, sha256: contract.sha256, inputSize: contract.input.size },
    providers: {},
    agreement: {},
  };
  const outputs = new Map<ProviderName, { real?: ClassifyOutput; phantoms?: ClassifyOutput }>();
  for (const provider of o.providers) {
    const config = writeConfig(work, provider, o.modelPath);
    const first = await classifyRun(config, [phantomFiles[0]!]);
    if ('failed' in first) {
      result.providers[provider] = { unavailable: first.failed };
      o.log(`${provider}: unavailable: ${first.failed}\n  its stderr: ${first.stderr.trim().split('\n').slice(-20).join('\n  ')}`);
      save(o.out, result);
      continue;
    }
    // The startup cost subtracted from later runs: the faster of two, the first warming caches.
    const again = await classifyRun(config, [phantomFiles[0]!]);
    const startupSeconds = Math.min(first.wallSeconds, 'wallSeconds' in again ? again.wallSeconds : Infinity);
    o.log(`${provider}: one-slice classify ${startupSeconds.toFixed(2)} s (process start, model load, session)`);
    const mine: { real?: ClassifyOutput; phantoms?: ClassifyOutput } = {};
    outputs.set(provider, mine);
    const measure = async (name: 'real' | 'phantoms', files: string[]): Promise<Stage<ClassifyFigures>> => {
      if (Date.now() > o.deadline) return { skipped: 'out of time' };
      const run = await classifyRun(config, files);
      if ('failed' in run) return { failed: run.failed };
      mine[name] = run.output;
      if (name === 'real') writeFileSync(path.join(o.out, `classify-${provider}-real.json`), JSON.stringify(run.output));
      const figures = classifyFigures(run.output, run.wallSeconds, startupSeconds);
      o.log(`${provider}: classify ${name}: ${figures.slices} slices in ${figures.wallSeconds.toFixed(2)} s, steady ${figures.steadySlicesPerSecond?.toFixed(1) ?? '(too few slices)'} slices/s, preprocess ${figures.preprocessMsPerSlice.toFixed(2)} ms/slice, inference ${figures.inferenceMsPerSlice.toFixed(3)} ms/slice`);
      return figures;
    };
    const real = realFiles.length > 0 ? await measure('real', realFiles) : undefined;
    const phantoms = await measure('phantoms', phantomFiles);
    const raw = await rawFigures(contract, provider, o);
    const ingest = await ingestFigures(o, work, provider, [...realFiles, ...phantomFiles], 'slicesPerSecond' in raw ? raw.slicesPerSecond : null);
    result.providers[provider] = { startupSeconds, classify: real ? { real, phantoms } : { phantoms }, raw, ingest };
    // Saved after each provider: a run cut short by its time limit still leaves figures.
    save(o.out, result);
  }

  const [reference, ...others] = o.providers;
  const ref = outputs.get(reference!);
  for (const provider of others) {
    const mine = outputs.get(provider);
    if (!ref || !mine) continue;
    const entry: { reference: ProviderName; real?: Agreement; phantoms?: Agreement } = { reference: reference! };
    if (ref.real && mine.real) entry.real = agreement(ref.real, mine.real);
    if (ref.phantoms && mine.phantoms) entry.phantoms = agreement(ref.phantoms, mine.phantoms);
    result.agreement[provider] = entry;
    for (const set of ['real', 'phantoms'] as const) {
      const a = entry[set];
      if (a) o.log(`${provider} vs ${reference}, ${set}: ${a.slices} slices, max abs diff ${a.maxAbsDiff.toExponential(2)}, mean ${a.meanAbsDiff.toExponential(2)}, ${a.decisionsDiffer} series decided differently`);
    }
  }
  save(o.out, result);
  return result;
}

function save(out: string, result: ProviderBenchResult): void {
  writeFileSync(path.join(out, 'providers.json'), `${JSON.stringify(result, null, 2)}\n`);
}

/** Phantom series of 32 slices (512x512, every other series with a bleed). */
function makePhantoms(dir: string, count: number): string[] {
  const files: string[] = [];
  for (let s = 0; files.length < count; s++) {
    const slices = Math.min(32, count - files.length);
    const bleed = s % 2 === 0 ? { x: 0.6, y: 0.45, radius: 0.08, hu: 70 } : undefined;
    files.push(...writeSlices(path.join(dir, `series${String(s).padStart(3, '0')}`), syntheticSeries({ slices, rows: 512, columns: 512, bleed })));
  }
  return files;
}

function writeConfig(work: string, provider: ProviderName, modelPath: string): string {
  const file = path.join(work, `classify-${provider}.yaml`);
  // JSON is YAML. No fallback: a provider that cannot start must say so, not run on CPU.
  writeFileSync(file, JSON.stringify({ model: { path: path.resolve(modelPath), executionProvider: provider } }));
  return file;
}

/** `ich-triage classify --json`; exit 2 (some slices failed) still has an output. */
function classifyRun(config: string, files: string[]): Promise<{ output: ClassifyOutput; wallSeconds: number } | { failed: string; stderr: string }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, [mainJs, 'classify', '--json', '--config', config, ...files], { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => stdout.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (code) => {
      const wallSeconds = (performance.now() - started) / 1000;
      // The node's own error line when there is one; else the end of stderr (a crash, say).
      const reason = /^PROVIDER_UNAVAILABLE: (.*)$/m.exec(stderr)?.[1] ?? `exit ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`;
      if (code !== 0 && code !== 2) return resolve({ failed: reason, stderr });
      resolve({ output: JSON.parse(Buffer.concat(stdout).toString()) as ClassifyOutput, wallSeconds });
    });
  });
}

function classifyFigures(output: ClassifyOutput, wallSeconds: number, startupSeconds: number): ClassifyFigures {
  const done = output.slices.filter((s) => s.probs);
  const mean = (f: (s: ClassifySlice) => number) => done.reduce((a, s) => a + f(s), 0) / Math.max(1, done.length);
  return {
    slices: output.slices.length,
    failed: output.slices.length - done.length,
    wallSeconds,
    steadySlicesPerSecond: wallSeconds - startupSeconds > 0.2 ? (output.slices.length - 1) / (wallSeconds - startupSeconds) : null,
    preprocessMsPerSlice: mean((s) => s.preprocessMs),
    inferenceMsPerSlice: mean((s) => s.inferenceMs),
  };
}

async function rawFigures(contract: ModelContract, provider: ProviderName, o: ProviderBenchOptions): Promise<ProviderFigures['raw']> {
  const base = { modelPath: contract.path, channels: contract.input.windows.length, size: contract.input.size, threads: os.availableParallelism(), slices: o.rawSlices, provider };
  const measured: RawFigures[] = [];
  const nodeBatch = defaultBatchSize(provider);
  try {
    for (const batch of [...new Set([nodeBatch, ...sweep])]) {
      if (Date.now() > o.deadline) break;
      const slicesPerSecond = await rawThroughput({ ...base, batch, slices: Math.max(o.rawSlices, batch * 3) });
      measured.push({ batch, slicesPerSecond, msPerSlice: 1000 / slicesPerSecond });
      o.log(`${provider}: raw onnxruntime, batch ${batch}: ${(1000 / slicesPerSecond).toFixed(3)} ms/slice, ${slicesPerSecond.toFixed(0)} slices/s`);
    }
  } catch (err) {
    return { failed: String(err).split('\n')[0]! };
  }
  const atNode = measured.find((m) => m.batch === nodeBatch);
  return atNode ? { ...atNode, sweep: measured.sort((a, b) => a.batch - b.batch) } : { skipped: 'out of time' };
}

/** The node serving on `provider`; series sent in parallel associations; timed until every slice's result is stored. */
async function ingestFigures(o: ProviderBenchOptions, work: string, provider: ProviderName, files: string[], raw: number | null): Promise<Stage<IngestFigures>> {
  if (Date.now() > o.deadline) return { skipped: 'out of time' };
  const dir = path.join(work, `serve-${provider}`);
  const httpPort = await freePort();
  let node: RunningNode;
  try {
    const starting = startNode(dir, {
      dicom: { aeTitle: 'ICH_TRIAGE', host: '127.0.0.1', port: 0, maxPduLength: 131072 },
      storage: { dataDir: path.join(dir, 'data'), minFreeMb: 0 },
      model: { path: path.resolve(o.modelPath), executionProvider: provider },
      http: { host: '127.0.0.1', port: httpPort },
      // startNode waits for the info line that gives the port.
      logging: { level: 'info' },
    });
    node = await Promise.race([starting, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the node did not listen within 60 s')), 60_000).unref())]);
  } catch (err) {
    return { failed: String(err).split('\n').slice(0, 5).join(' | ') };
  }
  try {
    const bySeries = new Map<string, string[]>();
    for (const f of files) bySeries.set(path.dirname(f), [...(bySeries.get(path.dirname(f)) ?? []), f]);
    const queue = [...bySeries.values()];
    const peer = { host: '127.0.0.1', port: node.port, aeTitle: 'ICH_TRIAGE', callingAeTitle: 'GPU_BENCH', timeoutMs: 60_000 };
    let stored = 0;
    const started = performance.now();
    // Four associations at a time, one per series, as several scanners would send.
    const senders = Array.from({ length: 4 }, async () => {
      for (let series = queue.shift(); series; series = queue.shift()) {
        const attempts = await storeFiles(peer, series);
        stored += attempts.filter((a) => 'status' in a && a.status === 0).length;
      }
    });
    const sending = Promise.all(senders);
    let classified = 0;
    const limit = Math.min(o.deadline, Date.now() + 180_000);
    while (classified < files.length && Date.now() < limit) {
      await new Promise((r) => setTimeout(r, 25));
      classified = await classifiedCount(httpPort);
    }
    const seconds = (performance.now() - started) / 1000;
    await sending;
    const slicesPerSecond = classified / seconds;
    const figures = { slices: files.length, stored, classified, seconds, slicesPerSecond, ratioToRaw: raw ? slicesPerSecond / raw : null };
    o.log(`${provider}: ingest ${classified}/${files.length} slices classified (${stored} stored) in ${seconds.toFixed(2)} s: ${slicesPerSecond.toFixed(1)} slices/s end to end${raw ? `, ${figures.ratioToRaw!.toFixed(2)} of raw` : ''}`);
    return figures;
  } finally {
    await node.stop();
  }
}

async function classifiedCount(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return Number(/^ich_triage_slice_classification_seconds_count (\S+)$/m.exec(text)?.[1] ?? 0);
}

/** Per-slice probabilities of `b` against `a` (matched by SOP Instance UID), and series decided differently. */
export function agreement(a: ClassifyOutput, b: ClassifyOutput): Agreement {
  const other = new Map(b.slices.map((s) => [s.sopInstanceUid, s.probs]));
  let slices = 0;
  let max = 0;
  let sum = 0;
  let values = 0;
  for (const s of a.slices) {
    const q = other.get(s.sopInstanceUid);
    if (!s.probs || !q) continue;
    slices++;
    s.probs.forEach((p, i) => {
      const d = Math.abs(p - q[i]!);
      max = Math.max(max, d);
      sum += d;
      values++;
    });
  }
  const decision = (o: ClassifyOutput['series'][number]['outcome']) => o.result?.decision ?? `skipped: ${o.reason}`;
  const theirs = new Map(b.series.map((s) => [s.seriesUid, decision(s.outcome)]));
  const decisionsDiffer = a.series.filter((s) => theirs.get(s.seriesUid) !== decision(s.outcome)).length;
  return { slices, maxAbsDiff: max, meanAbsDiff: sum / Math.max(1, values), decisionsDiffer };
}
