import type { Config } from '../config/schema.js';
import type { SeriesSlice, SeriesStore } from '../store/series.js';
import type { SeriesResult } from '../series/result.js';
import type { ModelInfo } from '../series/result.js';
import { decideSeries } from '../series/decide.js';
import type { Logger } from '../log.js';

export interface DecisionModel {
  classes: readonly string[];
  thresholds: Readonly<Record<string, number>>;
  info: ModelInfo;
}

/**
 * Complete series -> decision. A series is complete after series.idleSeconds without a new
 * slice (or when its expected slice count is reached) and once all its slices are classified.
 * The decision and its outputs (`onDecided`, e.g. outbox rows) commit in one transaction.
 *
 * Idleness counts only while the node is up: for series.idleSeconds after a start no series is
 * complete by idleness. While the node was down its senders could not send, so a series cut
 * short by the outage looked idle at once; it was decided before the sender's retry brought the
 * rest, which then made a second revision and a second report (seen in the SIGKILL test).
 */
export class DecideStage {
  /** Series whose outputs could not be queued: when to try that revision again, and the last delay. */
  private readonly held = new Map<string, { revision: number; until: number; delayMs: number }>();
  private readonly startedAt: number;

  constructor(
    private readonly store: SeriesStore,
    private readonly settings: () => { series: Config['series']; model: DecisionModel },
    private readonly log: Logger,
    private readonly onDecided: (result: SeriesResult, slices: SeriesSlice[]) => void = () => undefined,
    private readonly onSkipped: (seriesUid: string, reason: string) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now();
  }

  async runOnce(): Promise<boolean> {
    const now = this.now();
    const { series, model } = this.settings();
    const idleMs = series.idleSeconds * 1000;
    // Within idleSeconds of the start nothing is idle: no received time is at or before -1.
    const due = this.store.dueSeries(now - this.startedAt < idleMs ? -1 : now - idleMs);
    for (const row of due) {
      const held = this.held.get(row.seriesUid);
      if (held?.revision === row.revision && held.until > now) continue;
      const log = this.log.child({ series: row.seriesUid, revision: row.revision });
      const slices = this.store.slicesOf(row.seriesUid);
      const outcome = decideSeries(row, slices, {
        classes: model.classes,
        thresholds: model.thresholds,
        model: model.info,
        series,
        now,
      });
      if (outcome.kind === 'skipped') {
        if (this.store.recordSkip(row.seriesUid, row.revision, outcome.reason, now)) {
          log.info({ reason: outcome.reason }, 'series skipped');
          this.onSkipped(row.seriesUid, outcome.reason);
        }
        continue;
      }
      const result = outcome.result;
      let committed: boolean;
      try {
        committed = this.store.db.transaction(() => {
          if (!this.store.recordDecision(result)) return false;
          this.onDecided(result, slices);
          return true;
        })();
      } catch (err) {
        // The transaction rolled back: the series stays open and is tried again later, with a
        // growing delay. Without this, one series whose outputs cannot be built (source file
        // unreadable, disk full, a source that contradicts its series) would throw out of the
        // loop before every series behind it, at every pass: no series would be decided again.
        const delayMs = held?.revision === row.revision ? Math.min(held.delayMs * 2, 300_000) : 1000;
        this.held.set(row.seriesUid, { revision: row.revision, until: now + delayMs, delayMs });
        log.error({ err, retryInMs: delayMs }, 'series decided but its outputs could not be queued; will try again');
        continue;
      }
      this.held.delete(row.seriesUid);
      if (!committed) continue;
      log.info(
        {
          decision: result.decision,
          flagged: result.flagged,
          scores: roundAll(result.scores),
          slices: result.sliceCount,
          failed: result.failedSlices,
          sinceLastSliceMs: now - row.lastReceivedAt,
        },
        'series decided',
      );
    }
    return false;
  }
}

function roundAll(scores: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(scores).map(([k, v]) => [k, Math.round(v * 1000) / 1000]));
}
