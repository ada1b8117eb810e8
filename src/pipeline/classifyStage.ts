import path from 'node:path';
import type { BatchResult, InferenceEngine } from '../inference/engine.js';
import type { PendingSlice, SliceOutcome, SliceStore } from '../store/slices.js';
import type { Logger } from '../log.js';
import type { StageResult } from './loop.js';

/** Per classified slice: from storage to stored probabilities, and its share of session.run. */
export interface ClassifiedSlice {
  latencyMs: number;
  inferenceMs: number;
}

/**
 * While slices stream in, a partial batch waits up to this long for the next slice. A sender
 * delivers a CT slice every few milliseconds; a pause this long means the transfer ended.
 */
export const coalesceMs = 50;

/**
 * Received slices -> inference workers -> slice_results. Keeps every free worker fed with a
 * batch of the oldest pending slices; results are committed per batch.
 *
 * While a transfer streams in, only full batches go: a free worker would otherwise take each
 * slice as it lands, and per-slice batches cost the main thread a query, a message and a commit
 * each, time taken from acknowledging the sender. The partial batch at the end goes once no
 * slice has come for `coalesceMs`.
 */
export class ClassifyStage {
  private readonly inFlight = new Set<string>();
  /** Slices stored and not yet handed to a worker, as far as this stage knows. */
  private undispatched = 0;
  private lastArrival = -Infinity;

  constructor(
    private engine: InferenceEngine,
    private readonly slices: SliceStore,
    private readonly dataDir: string,
    private readonly log: Logger,
    private readonly onBatchDone: (seriesUids: Set<string>, succeeded: boolean, slices: ClassifiedSlice[]) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** After a reload: batches in flight finish on the old engine, new ones use this one. */
  setEngine(engine: InferenceEngine): void {
    this.engine = engine;
  }

  get pendingInFlight(): number {
    return this.inFlight.size;
  }

  /** A slice was stored (the SCP acknowledged it). */
  noteArrival(): void {
    this.undispatched++;
    this.lastArrival = this.now();
  }

  async runOnce(): Promise<StageResult> {
    const engine = this.engine;
    const free = engine.freeWorkers;
    if (free === 0) return false;
    const batchSize = engine.status.batchSize;
    const sinceArrival = this.now() - this.lastArrival;
    const streaming = sinceArrival < coalesceMs;
    if (streaming && this.undispatched < batchSize) return coalesceMs - sinceArrival;
    const pending = this.slices.nextPending(batchSize * free + this.inFlight.size).filter((p) => !this.inFlight.has(p.sopInstanceUid));
    const batches: PendingSlice[][] = [];
    for (let i = 0; i < pending.length && batches.length < free; i += batchSize) batches.push(pending.slice(i, i + batchSize));
    const last = batches.at(-1);
    if (streaming && last && last.length < batchSize) batches.pop();
    const dispatched = batches.reduce((n, b) => n + b.length, 0);
    this.undispatched = pending.length - dispatched;
    for (const batch of batches) {
      for (const p of batch) this.inFlight.add(p.sopInstanceUid);
      const byUid = new Map(batch.map((p) => [p.sopInstanceUid, p]));
      const items = batch.map((p) => ({ key: p.sopInstanceUid, path: path.join(this.dataDir, p.path) }));
      engine.classify(items).then(
        (result) => this.commit(engine, batch, byUid, result),
        (err: unknown) => {
          // The rows stay 'received': the loop retries them after its idle period.
          this.log.error({ err, slices: batch.length }, 'inference batch failed');
          this.finish(batch, false, []);
        },
      );
    }
    return streaming && this.undispatched > 0 ? coalesceMs - sinceArrival : false;
  }

  /**
   * Stores a batch's results. Runs outside the stage loop's try/catch (in a promise callback):
   * a database that stays locked past busy_timeout made it throw an unhandled rejection, which
   * ended the process. Now the batch is given up and its rows, still 'received', are retried.
   */
  private commit(engine: InferenceEngine, batch: PendingSlice[], byUid: Map<string, PendingSlice>, result: BatchResult): void {
    let done: ClassifiedSlice[];
    try {
      const share = result.inferenceMs / Math.max(1, result.items.filter((r) => r.probs).length);
      const outcomes: SliceOutcome[] = result.items.map((r) => ({
        sopInstanceUid: r.key,
        seriesUid: byUid.get(r.key)!.seriesUid,
        probs: r.probs,
        error: r.error,
        preprocessMs: r.preprocessMs,
        inferenceMs: r.probs ? share : 0,
      }));
      const now = this.now();
      this.slices.record(outcomes, engine.contract.info, now);
      for (const o of outcomes) {
        if (o.error) this.log.warn({ sop: o.sopInstanceUid, series: o.seriesUid, reason: o.error }, 'slice could not be classified');
      }
      this.log.debug({ slices: outcomes.length, inferenceMs: Math.round(result.inferenceMs) }, 'batch classified');
      done = outcomes.map((o) => ({ latencyMs: now - byUid.get(o.sopInstanceUid)!.receivedAt, inferenceMs: o.inferenceMs }));
    } catch (err) {
      this.log.error({ err, slices: batch.length }, 'cannot store the results of a batch; its slices will be classified again');
      this.finish(batch, false, []);
      return;
    }
    try {
      this.finish(batch, true, done);
    } catch (err) {
      // What follows a batch (early alerts) failed; the decide stage still sees the results.
      this.log.error({ err }, 'after-batch step failed');
    }
  }

  private finish(batch: PendingSlice[], succeeded: boolean, done: ClassifiedSlice[]): void {
    for (const p of batch) this.inFlight.delete(p.sopInstanceUid);
    this.onBatchDone(new Set(batch.map((p) => p.seriesUid)), succeeded, done);
  }
}
