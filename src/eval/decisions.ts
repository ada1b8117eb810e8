/**
 * What the node itself would have decided per series (z-smoothing, per-class maximum, thresholds
 * in force: the daemon's `decideSeries`), scored against the series labels. The training tool
 * has no equivalent: its series metrics use raw maxima, kept in `series` for comparison.
 */
import type { SeriesOutcome } from '../series/decide.js';
import type { EvalRow } from './dataset.js';
import { binaryAuc, confusion, seriesMax, type Confusion, type PerClass } from './metrics.js';

export interface NodeDecisions {
  n_decided: number;
  /** Labelled series the node would not classify (selection rules), with the reason. */
  skipped: Array<{ series_instance_uid: string; reason: string }>;
  /** "urgent" (some class reached its threshold) against the series' "any" label. */
  urgent: Confusion;
  /** Per class: flagged against the series label. */
  flagged: PerClass<Confusion>;
  /** Per class: ROC AUC of the node's series score (maximum of the smoothed probabilities). */
  roc_auc: PerClass<number | null>;
}

export function nodeDecisions(
  rows: readonly EvalRow[],
  outcomes: ReadonlyArray<{ seriesUid: string; outcome: SeriesOutcome }>,
  classes: readonly string[],
): NodeDecisions {
  const labelled = seriesMax(
    rows.map((r) => r.seriesUid),
    rows.map((r) => r.y),
    rows.map((r) => r.p),
  );
  const labelOf = new Map(labelled.ids.map((id, k) => [id, labelled.y[k]!]));
  const decided: Array<{ y: number[]; flagged: readonly string[]; scores: Readonly<Record<string, number>>; urgent: boolean }> = [];
  const skipped: NodeDecisions['skipped'] = [];
  for (const { seriesUid, outcome } of outcomes) {
    const y = labelOf.get(seriesUid);
    if (y === undefined) continue;
    if (outcome.kind === 'skipped') skipped.push({ series_instance_uid: seriesUid, reason: outcome.reason });
    else decided.push({ y, flagged: outcome.result.flagged, scores: outcome.result.scores, urgent: outcome.result.decision === 'urgent' });
  }
  return {
    n_decided: decided.length,
    skipped,
    urgent: confusion(
      decided.map((d) => d.y[0]!),
      decided.map((d) => d.urgent),
    ),
    flagged: Object.fromEntries(
      classes.map((c, i) => [
        c,
        confusion(
          decided.map((d) => d.y[i]!),
          decided.map((d) => d.flagged.includes(c)),
        ),
      ]),
    ),
    roc_auc: Object.fromEntries(
      classes.map((c, i) => [
        c,
        binaryAuc(
          decided.map((d) => d.y[i]!),
          decided.map((d) => d.scores[c]!),
        ),
      ]),
    ),
  };
}
