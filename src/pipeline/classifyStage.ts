import path from 'node:path';
import os from 'node:os';
import type { BatchResult, EngineStatus, InferenceEngine } from '../inference/engine.js';
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

/** Asked once: the stage asks for its hold at every slice, and each answer is a system call. */
const machineCores = os.availableParallelism();

/**
 * How long a transfer may hold back classification (model.holdWhileReceivingMs): while slices
 * stream in (none more than `coalesceMs` apart) for less than this, no batch starts. The sender
 * waits for each acknowledgement; where inference can keep every core busy (2 cores: ingest
 * 0.55x of its rate alone, even at idle priority: dispatches and commits on the main thread,
 * caches) it takes the time from acknowledging. The results come no later, as the cores then
 * classify the whole transfer at once. A transfer longer than this (a busy PACS, a scanner
 * sending as it reconstructs) gets batches beside it. With cores to spare: no hold.
 */
export function holdWhileReceiving(configured: number | undefined, engine: EngineStatus, cores = machineCores): number {
  return configured ?? (engine.busyThreads >= cores ? 2000 : 0);
}

/**
 * Received slices -> inference workers -> slice_results. Keeps every free slot of the engine
 * (two per worker) fed with a batch of the oldest pending slices; results are committed per batch.
 *
 * While a transfer streams in, nothing goes for up to `holdMs`, then only full batches: a free
 * worker would otherwise take each slice as it lands, and per-slice batches cost the main
 * thread a query, a message and a commit each, time taken from acknowledging the sender. The
 * rest goes once no slice has come for `coalesceMs`.
 */
export class ClassifyStage {
  private readonly inFlight = new Set<string>();
  /** Slices stored and not yet handed to a worker, as far as this stage knows. */
  private undispatched = 0;
  private lastArrival = -Infinity;
  /** First arrival of the current stream (arrivals no more than coalesceMs apart). */
  private streamStart = -Infinity;

  constructor(
    private engine: InferenceEngine,
    private readonly slices: SliceStore,
    private readonly dataDir: string,
    private readonly log: Logger,
    private readonly onBatchDone: (seriesUids: Set<string>, succeeded: boolean, slices: ClassifiedSlice[]) => void,
    /** holdWhileReceiving for the current config and engine. */
    private readonly holdMs: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** After a reload: batches in flight finish on the old engine, new ones use this one. */
  setEngine(engine: InferenceEngine): void {
    this.engine = engine;
  }

  get pendingInFlight(): number {
    return this.inFlight.size;
  }

  /**
   * A slice was stored (the SCP acknowledged it). True when the loop should look now: a stream
   * starts (the loop then looks again within coalesceMs by itself while it lasts), or a full
   * batch may go. Waking it at every slice cost the thread that acknowledges a pass of the loop,
   * a timer and a promise per slice, while the hold turned each pass away.
   */
  noteArrival(): boolean {
    const now = this.now();
    const starts = now - this.lastArrival >= coalesceMs;
    if (starts) this.streamStart = now;
    this.undispatched++;
    this.lastArrival = now;
    return starts || (now - this.streamStart >= this.holdMs() && this.undispatched >= this.engine.status.batchSize);
  }

  /** No association is open: what was sent has all arrived, so nothing waits for more. */
  noteTransfersEnded(): void {
    this.lastArrival = -Infinity;
  }

  async runOnce(): Promise<StageResult> {
    const engine = this.engine;
    const free = engine.freeSlots;
    if (free === 0) return false;
    const batchSize = engine.status.batchSize;
    const now = this.now();
    const sinceArrival = now - this.lastArrival;
    const streaming = sinceArrival < coalesceMs;
    const held = streaming && now - this.streamStart < this.holdMs();
    if (held || (streaming && this.undispatched < batchSize)) return coalesceMs - sinceArrival;
    const limit = batchSize * free + this.inFlight.size;
    const rows = this.slices.nextPending(limit);
    const pending = rows.filter((p) => !this.inFlight.has(p.sopInstanceUid));
    const batches: PendingSlice[][] = [];
    for (let i = 0; i < pending.length && batches.length < free; i += batchSize) batches.push(pending.slice(i, i + batchSize));
    const last = batches.at(-1);
    if (streaming && last && last.length < batchSize) batches.pop();
    const dispatched = batches.reduce((n, b) => n + b.length, 0);
    // A query that returned fewer rows than asked saw every waiting slice; else more may wait.
    this.undispatched = (rows.length < limit ? pending.length : Math.max(this.undispatched, pending.length)) - dispatched;
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
    // While slices stream in, look again within coalesceMs even with nothing left over: arrivals
    // wake the loop only for a full batch (noteArrival), and the stream's last partial one goes
    // once it pauses.
    return streaming ? coalesceMs - sinceArrival : false;
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
