/**
 * Evaluation metrics, pure functions on labels and probabilities. The definitions are those of
 * the training tool (tools/train/ich_train/metrics.py, docs/training.md): the same tie
 * handling, threshold rules and JSON key names, so both tools give the same numbers on the same
 * predictions (test/evalPython.test.ts checks it).
 *
 * Conventions: `y` is 0/1 and `p` probabilities, one row per image, one column per class in the
 * model's order with "any" first. An image is predicted positive when p >= threshold. A ratio
 * with a zero denominator is 0 (sklearn's zero_division=0); an AUC with one label value is null.
 */

export type Rows = readonly (readonly number[])[];

export const LOG_LOSS_EPS = 1e-7;
/** Table IV's precision levels. */
export const PRECISION_LEVELS = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95];

export interface Confusion {
  accuracy: number;
  precision: number;
  recall: number;
  specificity: number;
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export type PerClass<T> = Record<string, T>;

export function column(rows: Rows, i: number): number[] {
  return rows.map((r) => r[i]!);
}

/** Counts and ratios of a binary prediction against 0/1 labels. */
export function confusion(y: readonly number[], predicted: readonly boolean[]): Confusion {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  y.forEach((label, i) => {
    if (label !== 0) predicted[i] ? tp++ : fn++;
    else predicted[i] ? fp++ : tn++;
  });
  return {
    accuracy: (tp + tn) / Math.max(y.length, 1),
    precision: tp + fp ? tp / (tp + fp) : 0,
    recall: tp + fn ? tp / (tp + fn) : 0,
    specificity: tn + fp ? tn / (tn + fp) : 0,
    tp,
    fp,
    fn,
    tn,
  };
}

export function atThreshold(scores: readonly number[], threshold: number): boolean[] {
  return scores.map((s) => s >= threshold);
}

/** Table II: per-class confusion at one threshold per class. */
export function perClassAt(y: Rows, p: Rows, classes: readonly string[], thresholds: readonly number[]): PerClass<Confusion> {
  return Object.fromEntries(classes.map((c, i) => [c, confusion(column(y, i), atThreshold(column(p, i), thresholds[i]!))]));
}

/** Per-image accuracy: every class predicted right. */
export function exactMatch(y: Rows, p: Rows, thresholds: readonly number[]): number {
  const right = y.filter((labels, n) => labels.every((label, i) => (p[n]![i]! >= thresholds[i]!) === (label !== 0))).length;
  return right / y.length;
}

/** Table III: the learned "any" output (column 0) vs the OR of the subtype predictions. */
export function anyPredictedVsExplicit(y: Rows, p: Rows, thresholds: readonly number[]): { predicted: Confusion; explicit: Confusion } {
  const anyLabel = column(y, 0);
  return {
    predicted: confusion(anyLabel, atThreshold(column(p, 0), thresholds[0]!)),
    explicit: confusion(
      anyLabel,
      p.map((row) => row.some((s, i) => i > 0 && s >= thresholds[i]!)),
    ),
  };
}

interface ThresholdCounts {
  /** The distinct observed scores, ascending. */
  thresholds: number[];
  /** Positives and negatives predicted positive at p >= each threshold. */
  tp: number[];
  fp: number[];
  positives: number;
  negatives: number;
}

export function countsPerThreshold(y: readonly number[], scores: readonly number[]): ThresholdCounts {
  const order = scores.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  const out: ThresholdCounts = { thresholds: [], tp: [], fp: [], positives: 0, negatives: 0 };
  // Walk from the highest score down, so the counts at p >= t accumulate; reverse at the end.
  let tp = 0;
  let fp = 0;
  for (let k = order.length - 1; k >= 0; ) {
    const t = scores[order[k]!]!;
    for (; k >= 0 && scores[order[k]!] === t; k--) y[order[k]!] !== 0 ? tp++ : fp++;
    out.thresholds.push(t);
    out.tp.push(tp);
    out.fp.push(fp);
  }
  out.thresholds.reverse();
  out.tp.reverse();
  out.fp.reverse();
  out.positives = tp;
  out.negatives = fp;
  return out;
}

/** Lowest observed score t whose precision at p >= t reaches `target` (the most recall). */
export function thresholdAtPrecision(y: readonly number[], scores: readonly number[], target: number): number | null {
  const c = countsPerThreshold(y, scores);
  const hit = c.thresholds.findIndex((_, i) => c.tp[i]! / (c.tp[i]! + c.fp[i]!) >= target);
  return hit < 0 ? null : c.thresholds[hit]!;
}

/** Highest observed score t whose recall at p >= t reaches `target`. */
export function thresholdAtRecall(y: readonly number[], scores: readonly number[], target: number): number | null {
  const c = countsPerThreshold(y, scores);
  if (c.positives === 0) return null;
  const hit = c.thresholds.findLastIndex((_, i) => c.tp[i]! / c.positives >= target);
  return hit < 0 ? null : c.thresholds[hit]!;
}

export type OperatingPoint = { threshold: number | null } & Partial<Confusion>;

/** Table V (by precision) or its recall twin: the threshold per class and the metrics there. */
export function operatingPoints(y: Rows, p: Rows, classes: readonly string[], target: number, by: 'precision' | 'recall'): PerClass<OperatingPoint> {
  const choose = by === 'precision' ? thresholdAtPrecision : thresholdAtRecall;
  return Object.fromEntries(
    classes.map((c, i) => {
      const labels = column(y, i);
      const scores = column(p, i);
      const t = choose(labels, scores, target);
      return [c, t === null ? { threshold: null } : { threshold: t, ...confusion(labels, atThreshold(scores, t)) }];
    }),
  );
}

export interface SweepRow {
  target_precision: number;
  threshold: number | null;
  precision: number | null;
  recall: number | null;
  accuracy: number | null;
}

/** Table IV: for each precision level, the "any" threshold reaching it and the metrics there. */
export function anySweep(y: Rows, p: Rows, levels: readonly number[] = PRECISION_LEVELS): SweepRow[] {
  const labels = column(y, 0);
  const scores = column(p, 0);
  return levels.map((level) => {
    const t = thresholdAtPrecision(labels, scores, level);
    const m = t === null ? null : confusion(labels, atThreshold(scores, t));
    return { target_precision: level, threshold: t, precision: m?.precision ?? null, recall: m?.recall ?? null, accuracy: m?.accuracy ?? null };
  });
}

/**
 * ROC AUC as the Mann-Whitney statistic with average ranks: a tied positive/negative pair counts
 * one half (the number sklearn's roc_auc_score gives). Null with only one label value.
 */
export function binaryAuc(y: readonly number[], scores: readonly number[]): number | null {
  const positives = y.filter((v) => v !== 0).length;
  const negatives = y.length - positives;
  if (positives === 0 || negatives === 0) return null;
  const order = scores.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let rankSum = 0;
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end < order.length && scores[order[end]!] === scores[order[start]!]) end++;
    // Ranks start+1 .. end share their average.
    const rank = end - (end - start - 1) / 2;
    for (let k = start; k < end; k++) if (y[order[k]!] !== 0) rankSum += rank;
    start = end;
  }
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export function rocAuc(y: Rows, p: Rows, classes: readonly string[]): PerClass<number | null> {
  return Object.fromEntries(classes.map((c, i) => [c, binaryAuc(column(y, i), column(p, i))]));
}

/** Mean binary cross-entropy per class, probabilities clipped to [eps, 1 - eps]. */
export function logLossPerClass(y: Rows, p: Rows, classes: readonly string[]): PerClass<number> {
  return Object.fromEntries(
    classes.map((c, i) => {
      let sum = 0;
      y.forEach((row, n) => {
        const label = row[i]!;
        const q = Math.min(Math.max(p[n]![i]!, LOG_LOSS_EPS), 1 - LOG_LOSS_EPS);
        sum += -(label * Math.log(q) + (1 - label) * Math.log(1 - q));
      });
      return [c, sum / y.length];
    }),
  );
}

/** RSNA 2019 weights: 2 on "any" (the first class), 1 on each subtype. */
export function rsnaWeights(classes: readonly string[]): number[] {
  return classes.map((_, i) => (i === 0 ? 2 : 1));
}

/** RSNA 2019 metric: the per-class log losses averaged with weights. */
export function weightedLogLoss(perClass: PerClass<number>, classes: readonly string[], weights: readonly number[] = rsnaWeights(classes)): number {
  const total = weights.reduce((a, w) => a + w, 0);
  return classes.reduce((a, c, i) => a + weights[i]! * perClass[c]!, 0) / total;
}

/** Series labels and probabilities: per class the maximum over the series' slices, series in first-seen order. */
export function seriesMax(series: readonly string[], y: Rows, p: Rows): { ids: string[]; y: number[][]; p: number[][] } {
  const index = new Map<string, number>();
  const ys: number[][] = [];
  const ps: number[][] = [];
  series.forEach((id, n) => {
    const k = index.get(id);
    if (k === undefined) {
      index.set(id, ys.length);
      ys.push([...y[n]!]);
      ps.push([...p[n]!]);
      return;
    }
    ys[k] = ys[k]!.map((v, i) => Math.max(v, y[n]![i]!));
    ps[k] = ps[k]!.map((v, i) => Math.max(v, p[n]![i]!));
  });
  return { ids: [...index.keys()], y: ys, p: ps };
}

export function prevalence(y: Rows, classes: readonly string[]): PerClass<number> {
  return Object.fromEntries(classes.map((c, i) => [c, column(y, i).reduce((a, v) => a + v, 0) / y.length]));
}
