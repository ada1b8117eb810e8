import { Worker } from 'node:worker_threads';
import { access } from 'node:fs/promises';
import os from 'node:os';
import { IchError } from '../errors.js';
import type { ProviderName } from '../config/schema.js';
import type { ThreadPriority } from '../util/threadPriority.js';
import type { ModelContract } from './contract.js';
import { warmUpSlices } from './warmUpSlices.js';
import { workerScript } from '../util/workerScript.js';
import type {
  BatchFailure,
  BatchItem,
  BatchRequest,
  BatchResponse,
  ItemResult,
  PreprocessRequest,
  PreprocessResponse,
  ProviderAttempt,
  WorkerReady,
  WorkerSetup,
} from './protocol.js';

export interface EngineOptions {
  /** Tried in order in each worker. */
  providers: ProviderName[];
  /** Total intra-op threads; 0: all cores. */
  threads: number;
  /** Slices per session.run; 0: chosen per provider. */
  batchSize: number;
  deviceId: number;
  /** Workers that only preprocess, feeding the session workers; 0 or absent: chosen per provider. */
  preprocessWorkers?: number;
  /** Scheduling priority of the workers' threads; absent: 'idle'. */
  priority?: ThreadPriority;
}

export interface EngineStatus {
  provider: ProviderName;
  /** Providers tried before the one in use, and why each failed. */
  fallbacks: ProviderAttempt[];
  /** Workers holding a session. */
  workers: number;
  /** Workers that only preprocess (0: each session worker preprocesses its own batches). */
  preprocessors: number;
  batchSize: number;
  sessionMs: number;
  /** What the session workers' threads got (less than asked where the system refused). */
  priority: ThreadPriority;
  /**
   * Threads that inference keeps busy: on CPU every intra-op thread, on a GPU its one session
   * worker and the preprocess workers.
   */
  busyThreads: number;
}

interface Job {
  items: BatchItem[];
  wantTensors: boolean;
  /** Set once a preprocess worker has turned the files into tensors. */
  prepared?: ItemResult[];
  resolve: (r: BatchResult) => void;
  reject: (e: Error) => void;
}

export interface BatchResult {
  items: ItemResult[];
  inferenceMs: number;
}

/** Default slices per run: small on CPU (latency), large on GPUs (throughput). */
export function defaultBatchSize(provider: ProviderName): number {
  return provider === 'cpu' ? 4 : 32;
}

/**
 * How many workers and threads each: on CPU, one single-threaded session per core (up to 4)
 * keeps every core busy without intra-op synchronisation; GPU providers use one worker.
 */
export function workerPlan(providers: readonly ProviderName[], threads: number): { workers: number; intraOpThreads: number } {
  const total = threads > 0 ? threads : os.availableParallelism();
  if (providers[0] !== 'cpu') return { workers: 1, intraOpThreads: total };
  const workers = Math.max(1, Math.min(4, total));
  return { workers, intraOpThreads: Math.max(1, Math.floor(total / workers)) };
}

/**
 * Preprocess-only workers: none on CPU, where every session worker decodes its own batches; on
 * a GPU, decoding a slice (~10-30 ms) costs far more than its share of session.run (~1 ms), so
 * the other cores (up to 8) decode for the one session worker.
 */
export function preprocessWorkers(provider: ProviderName, configured: number, cores = os.availableParallelism()): number {
  if (configured > 0) return configured;
  return provider === 'cpu' ? 0 : Math.max(1, Math.min(8, cores - 1));
}

/**
 * Workers of one kind; jobs wait in order for a free slot. Each worker holds up to `depth` jobs
 * and runs them one after the other: with 2, a worker starts its next batch the moment it posts
 * a result (see docs/architecture.md). `send` posts a job to a worker; `done` receives its answer.
 */
class Pool<M extends { id: number }> {
  /** Jobs each worker holds, oldest (the running one) first; a crashed worker is removed. */
  private readonly held = new Map<Worker, { id: number; job: Job }[]>();
  private readonly queue: Job[] = [];
  private nextId = 1;

  constructor(
    readonly workers: Worker[],
    private readonly depth: number,
    private readonly send: (worker: Worker, id: number, job: Job) => void,
    private readonly done: (job: Job, message: M) => void,
  ) {
    for (const w of workers) {
      this.held.set(w, []);
      w.on('message', (m: M) => this.onMessage(w, m));
      w.on('error', (err) => this.onCrash(w, err));
    }
  }

  /** Jobs the workers can take now. */
  get free(): number {
    let free = 0;
    for (const jobs of this.held.values()) free += this.depth - jobs.length;
    return free;
  }

  get running(): number {
    return this.held.size;
  }

  /** Jobs waiting for a free slot. */
  get queued(): number {
    return this.queue.length;
  }

  get pending(): boolean {
    return this.queue.length > 0 || [...this.held.values()].some((jobs) => jobs.length > 0);
  }

  submit(job: Job): void {
    this.queue.push(job);
    this.pump();
  }

  /** Rejects the queued jobs; running ones end with their workers. */
  drop(reason: string): void {
    for (const job of this.queue.splice(0)) job.reject(new Error(reason));
  }

  /** Resolves once no job is running, or after `ms`. */
  async settled(ms: number): Promise<void> {
    for (const deadline = Date.now() + ms; this.pending && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Each job to the worker holding the fewest, so that idle workers start first. */
  private pump(): void {
    while (this.queue.length > 0) {
      let target: [Worker, { id: number; job: Job }[]] | undefined;
      for (const entry of this.held) if (entry[1].length < this.depth && (!target || entry[1].length < target[1].length)) target = entry;
      if (!target) return;
      const job = this.queue.shift()!;
      const id = this.nextId++;
      target[1].push({ id, job });
      this.send(target[0], id, job);
    }
  }

  private onMessage(worker: Worker, message: M): void {
    const jobs = this.held.get(worker);
    if (!jobs || jobs[0]?.id !== message.id) return;
    const { job } = jobs.shift()!;
    this.done(job, message);
    this.pump();
  }

  /** A crashed worker is dropped from the pool; its batches fail and are retried by the caller. */
  private onCrash(worker: Worker, err: Error): void {
    const jobs = this.held.get(worker) ?? [];
    this.held.delete(worker);
    for (const { job } of jobs) job.reject(new Error(`inference worker crashed: ${err.message}`));
  }
}

type SessionReady = Extract<WorkerReady, { type: 'ready' }>;

/** How long close() lets running batches finish before it terminates the workers. */
const closeGraceMs = 10_000;

/**
 * A pool of inference workers; `classify` runs a batch on the next free one. With preprocess
 * workers, a batch is first turned into tensors by one of them, then run by a session worker.
 */
export class InferenceEngine {
  private readonly sessions: Pool<BatchResponse | BatchFailure>;
  private readonly preprocess: Pool<PreprocessResponse | BatchFailure> | undefined;
  private closed = false;

  private constructor(
    readonly contract: ModelContract,
    readonly status: EngineStatus,
    sessionWorkers: Worker[],
    preprocessWorkers: Worker[],
  ) {
    this.sessions = new Pool<BatchResponse | BatchFailure>(
      sessionWorkers,
      2,
      (w, id, job) => {
        const request: BatchRequest = { type: 'batch', id, items: job.items, wantTensors: job.wantTensors, prepared: job.prepared };
        w.postMessage(request, job.prepared?.flatMap((i) => (i.tensor ? [i.tensor.buffer as ArrayBuffer] : [])) ?? []);
      },
      (job, m) => (m.type === 'result' ? job.resolve({ items: m.items, inferenceMs: m.inferenceMs }) : job.reject(new Error(m.message))),
    );
    this.preprocess =
      preprocessWorkers.length === 0
        ? undefined
        : new Pool<PreprocessResponse | BatchFailure>(
            preprocessWorkers,
            1,
            (w, id, job) => w.postMessage({ type: 'preprocess', id, items: job.items } satisfies PreprocessRequest),
            (job, m) => {
              if (m.type === 'error') return job.reject(new Error(m.message));
              if (this.closed) return job.reject(new Error('inference engine closed'));
              job.prepared = m.items;
              this.sessions.submit(job);
            },
          );
  }

  static async start(contract: ModelContract, options: EngineOptions): Promise<InferenceEngine> {
    // libuv's thread pool serves the whole process and starts with the first thread that needs
    // it; its threads inherit that thread's scheduling policy. Started from an idle-priority
    // worker, the main thread's file opens and fsyncs would wait for idle cores: start it here.
    await access(contract.path);
    let sessions = await startSessions(contract, options, options.providers);
    const first = sessions.ready[0]!;
    // A GPU list that ended on CPU got the GPU plan (one worker); CPU's plan uses every core.
    if (first.provider === 'cpu' && workerPlan(options.providers, options.threads).workers < workerPlan(['cpu'], options.threads).workers) {
      await Promise.all(sessions.workers.map((w) => w.terminate()));
      sessions = await startSessions(contract, options, ['cpu']);
    }
    const count = preprocessWorkers(first.provider, options.preprocessWorkers ?? 0);
    const preprocessors = Array.from({ length: count }, () => new Worker(workerScript(import.meta.url, 'worker'), { workerData: workerSetup(contract, options, 'preprocess', [], 1) }));
    try {
      await Promise.all(preprocessors.map(firstMessage));
    } catch (err) {
      await Promise.all([...sessions.workers, ...preprocessors].map((w) => w.terminate()));
      throw err;
    }
    const status: EngineStatus = {
      provider: first.provider,
      fallbacks: first.fallbacks,
      workers: sessions.workers.length,
      preprocessors: count,
      batchSize: options.batchSize > 0 ? options.batchSize : defaultBatchSize(first.provider),
      sessionMs: Math.max(...sessions.ready.map((r) => r.sessionMs)),
      priority: sessions.ready[0]!.priority,
      busyThreads: first.provider === 'cpu' ? sessions.workers.length * sessions.intraOpThreads : 1 + count,
    };
    return new InferenceEngine(contract, status, sessions.workers, preprocessors);
  }

  /**
   * Batches the engine can take now without queueing them: two per session worker (see Pool).
   * With preprocess workers, one per free preprocess worker, and none while two prepared batches
   * already wait for the session: enough to keep the GPU busy, and a backlog stays rows in the
   * database instead of tensors in memory.
   */
  get freeSlots(): number {
    if (!this.preprocess) return this.sessions.free;
    return this.sessions.queued >= 2 ? 0 : this.preprocess.free;
  }

  /** At least one worker of each kind is running and the engine is open. */
  get alive(): boolean {
    return !this.closed && this.sessions.running > 0 && (this.preprocess === undefined || this.preprocess.running > 0);
  }

  /** For a reload: lets queued and running batches finish, then closes. */
  async closeWhenIdle(): Promise<void> {
    while (this.sessions.pending || this.preprocess?.pending) await new Promise((r) => setTimeout(r, 50));
    await this.close();
  }

  classify(items: BatchItem[], options: { wantTensors?: boolean } = {}): Promise<BatchResult> {
    if (this.closed) return Promise.reject(new Error('inference engine is closed'));
    return new Promise((resolve, reject) => (this.preprocess ?? this.sessions).submit({ items, wantTensors: options.wantTensors ?? false, resolve, reject }));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.preprocess?.drop('inference engine closed');
    this.sessions.drop('inference engine closed');
    // A worker terminated inside session.run ended the whole process: onnxruntime-node's
    // completion threw into the torn-down worker (terminate called after throwing
    // 'Napi::Error', SIGABRT), seen on SIGTERM under load. Running batches finish first.
    await Promise.all([this.sessions.settled(closeGraceMs), this.preprocess?.settled(closeGraceMs)]);
    await Promise.all([...this.sessions.workers, ...(this.preprocess?.workers ?? [])].map((w) => w.terminate()));
  }
}

function workerSetup(contract: ModelContract, options: EngineOptions, role: WorkerSetup['role'], providers: ProviderName[], intraOpThreads: number): WorkerSetup {
  return {
    role,
    modelPath: contract.path,
    providers,
    intraOpThreads,
    batchSize: options.batchSize,
    priority: options.priority ?? 'idle',
    deviceId: options.deviceId,
    input: contract.input,
    outputName: contract.outputName,
    classCount: contract.classes.length,
    warmUpFiles: warmUpSlices(),
  };
}

/** Session workers for the plan of `providers`, each trying them in order; throws when none starts. */
async function startSessions(contract: ModelContract, options: EngineOptions, providers: ProviderName[]): Promise<{ workers: Worker[]; ready: SessionReady[]; intraOpThreads: number }> {
  const plan = workerPlan(providers, options.threads);
  const setup = workerSetup(contract, options, 'session', providers, plan.intraOpThreads);
  const workers = Array.from({ length: plan.workers }, () => new Worker(workerScript(import.meta.url, 'worker'), { workerData: setup }));
  let readies: WorkerReady[];
  try {
    readies = await Promise.all(workers.map(firstMessage));
  } catch (err) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw err;
  }
  const failed = readies.find((r): r is Extract<WorkerReady, { type: 'failed' }> => r.type === 'failed');
  const ready = readies.filter((r): r is SessionReady => r.type === 'ready');
  if (failed || ready.length === 0) {
    await Promise.all(workers.map((w) => w.terminate()));
    const reasons = (failed?.attempts ?? []).map((a) => `${a.provider}: ${a.reason}`).join('; ');
    throw new IchError('PROVIDER_UNAVAILABLE', `no execution provider of [${providers.join(', ')}] could start (${reasons})`);
  }
  return { workers, ready, intraOpThreads: plan.intraOpThreads };
}

function firstMessage(worker: Worker): Promise<WorkerReady> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`inference worker exited with code ${code} while starting`)));
  });
}
