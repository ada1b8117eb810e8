/** From a complete series' rows to its result: pure, so the rules are tested without I/O. */
import type { Config } from '../config/schema.js';
import type { SeriesRow, SeriesSlice } from '../store/series.js';
import type { ModelInfo, SeriesResult } from './result.js';
import { aggregate, type SliceScore } from './aggregate.js';
import { selectionRefusal } from './selection.js';

export type SeriesOutcome = { kind: 'decided'; result: SeriesResult } | { kind: 'skipped'; reason: string };

export interface DecisionContext {
  classes: readonly string[];
  thresholds: Readonly<Record<string, number>>;
  model: ModelInfo;
  series: Config['series'];
  now: number;
}

export function decideSeries(row: SeriesRow, slices: readonly SeriesSlice[], ctx: DecisionContext): SeriesOutcome {
  const candidates = slices.filter((s) => s.state !== 'skipped');
  if (candidates.length === 0) {
    const reason = slices[0]?.skipReason ?? 'no instances';
    return { kind: 'skipped', reason: `no slices to classify: ${reason}` };
  }
  const refusal = selectionRefusal(row, candidates, ctx.series.selection);
  if (refusal) return { kind: 'skipped', reason: refusal };
  const scored: SliceScore[] = candidates
    .filter((s) => s.state === 'classified' && s.probs !== null)
    .map((s) => ({ sopInstanceUid: s.sopInstanceUid, sopClassUid: s.sopClassUid, instanceNumber: s.instanceNumber, z: s.z, probs: JSON.parse(s.probs!) as number[] }));
  if (scored.length === 0) {
    return { kind: 'skipped', reason: `none of ${candidates.length} slices could be classified: ${candidates.find((s) => s.error)?.error ?? 'unknown error'}` };
  }
  const agg = aggregate(scored, ctx.classes, ctx.thresholds, ctx.series.smoothing);
  const sum = (f: (s: SeriesSlice) => number | null) => candidates.reduce((a, s) => a + (f(s) ?? 0), 0);
  return {
    kind: 'decided',
    result: {
      seriesUid: row.seriesUid,
      studyUid: row.studyUid,
      revision: row.revision,
      decision: agg.decision,
      classes: [...ctx.classes],
      scores: agg.scores,
      thresholds: Object.fromEntries(ctx.classes.map((c) => [c, ctx.thresholds[c]!])),
      flagged: agg.flagged,
      keySlices: agg.keySlices,
      sliceCount: scored.length,
      failedSlices: candidates.length - scored.length,
      smoothing: ctx.series.smoothing === 'none' ? 'none' : [...ctx.series.smoothing],
      model: ctx.model,
      timings: {
        firstReceivedAt: row.firstReceivedAt,
        lastReceivedAt: row.lastReceivedAt,
        decidedAt: ctx.now,
        preprocessMs: sum((s) => s.preprocessMs),
        inferenceMs: sum((s) => s.inferenceMs),
      },
    },
  };
}
