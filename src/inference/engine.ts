import { Worker } from 'node:worker_threads';
import os from 'node:os';
import { IchError } from '../errors.js';
import type { ProviderName } from '../config/schema.js';
import type { ModelContract } from './contract.js';
import type { BatchFailure, BatchItem, BatchResponse, ItemResult, ProviderAttempt, WorkerReady, WorkerSetup } from './protocol.js';

export interface EngineOptions {
  /** Tried in order in each worker. */
  providers: ProviderName[];
  /** Total intra-op threads; 0: all cores. */
  threads: number;
  /** Slices per session.run; 0: chosen per provider. */
  batchSize: number;
  deviceId: number;
}

export interface EngineStatus {
  provider: ProviderName;
  /** Providers tried before the one in use, and why each failed. */
  fallbacks: ProviderAttempt[];
  workers: number;
  batchSize: number;
  sessionMs: number;
}

interface Job {
  items: BatchItem[];
  wantTensors: boolean;
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
 * The worker script beside this module. When this module runs from TypeScript source (vitest),
 * the worker is the compiled one in dist/ (`npm test` builds first): Node 20 applies no loader
 * hooks inside worker threads, so a .ts worker cannot load.
 */
function workerScript(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('../../dist/inference/worker.js', import.meta.url) : new URL('./worker.js', import.meta.url);
}

/** A pool of inference workers; `classify` runs a batch on the next free one. */
export class InferenceEngine {
  private readonly idle: Worker[] = [];
  private readonly queue: Job[] = [];
  private readonly busy = new Map<Worker, { id: number; job: Job }>();
  private nextId = 1;
  private closed = false;

  private constructor(
    readonly contract: ModelContract,
    readonly status: EngineStatus,
    private readonly workers: Worker[],
  ) {
    for (const w of workers) {
      w.on('message', (m: BatchResponse | BatchFailure) => this.onMessage(w, m));
      w.on('error', (err) => this.onCrash(w, err));
      this.idle.push(w);
    }
  }

  static async start(contract: ModelContract, options: EngineOptions): Promise<InferenceEngine> {
    const plan = workerPlan(options.providers, options.threads);
    const setup: WorkerSetup = {
      modelPath: contract.path,
      providers: options.providers,
      intraOpThreads: plan.intraOpThreads,
      deviceId: options.deviceId,
      input: contract.input,
      outputName: contract.outputName,
      classCount: contract.classes.length,
    };
    const url = workerScript();
    const workers = Array.from({ length: plan.workers }, () => new Worker(url, { workerData: setup }));
    let readies: WorkerReady[];
    try {
      readies = await Promise.all(workers.map(firstMessage));
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
    const failed = readies.find((r): r is Extract<WorkerReady, { type: 'failed' }> => r.type === 'failed');
    const ready = readies.filter((r): r is Extract<WorkerReady, { type: 'ready' }> => r.type === 'ready');
    if (failed || ready.length === 0) {
      await Promise.all(workers.map((w) => w.terminate()));
      const reasons = (failed?.attempts ?? []).map((a) => `${a.provider}: ${a.reason}`).join('; ');
      throw new IchError('PROVIDER_UNAVAILABLE', `no execution provider of [${options.providers.join(', ')}] could start (${reasons})`);
    }
    const first = ready[0]!;
    return new InferenceEngine(contract, {
      provider: first.provider,
      fallbacks: first.fallbacks,
      workers: workers.length,
      batchSize: options.batchSize > 0 ? options.batchSize : defaultBatchSize(first.provider),
      sessionMs: Math.max(...ready.map((r) => r.sessionMs)),
    }, workers);
  }

  /** Workers not running a batch now. */
  get freeWorkers(): number {
    return this.idle.length;
  }

  /** At least one worker is running and the engine is open. */
  get alive(): boolean {
    return !this.closed && this.idle.length + this.busy.size > 0;
  }

  /** For a reload: lets queued and running batches finish, then closes. */
  async closeWhenIdle(): Promise<void> {
    while (this.queue.length > 0 || this.busy.size > 0) await new Promise((r) => setTimeout(r, 50));
    await this.close();
  }

  classify(items: BatchItem[], options: { wantTensors?: boolean } = {}): Promise<BatchResult> {
    if (this.closed) return Promise.reject(new Error('inference engine is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ items, wantTensors: options.wantTensors ?? false, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('inference engine closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.pop()!;
      const job = this.queue.shift()!;
      const id = this.nextId++;
      this.busy.set(worker, { id, job });
      worker.postMessage({ type: 'batch', id, items: job.items, wantTensors: job.wantTensors });
    }
  }

  private onMessage(worker: Worker, message: BatchResponse | BatchFailure): void {
    const entry = this.busy.get(worker);
    if (!entry || entry.id !== message.id) return;
    this.busy.delete(worker);
    this.idle.push(worker);
    if (message.type === 'result') entry.job.resolve({ items: message.items, inferenceMs: message.inferenceMs });
    else entry.job.reject(new Error(message.message));
    this.pump();
  }

  /** A crashed worker is dropped from the pool; its batch fails and is retried by the caller. */
  private onCrash(worker: Worker, err: Error): void {
    const entry = this.busy.get(worker);
    this.busy.delete(worker);
    const i = this.idle.indexOf(worker);
    if (i >= 0) this.idle.splice(i, 1);
    entry?.job.reject(new Error(`inference worker crashed: ${err.message}`));
  }
}

function firstMessage(worker: Worker): Promise<WorkerReady> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`inference worker exited with code ${code} while starting`)));
  });
}
