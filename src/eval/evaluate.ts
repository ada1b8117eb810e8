/**
 * Everything `eval` computes from labels and probabilities, as the JSON object of the training
 * tool's `evaluate()` (schema `ich-triage/eval/v1`, docs/training.md) plus what only the node
 * knows: the metrics at the thresholds in force (the model's, or the config's overrides).
 */
import {
  anyPredictedVsExplicit,
  anySweep,
  exactMatch,
  logLossPerClass,
  operatingPoints,
  perClassAt,
  prevalence,
  rocAuc,
  seriesMax,
  weightedLogLoss,
  type Confusion,
  type OperatingPoint,
  type PerClass,
  type Rows,
  type SweepRow,
} from './metrics.js';

export const EVAL_SCHEMA = 'ich-triage/eval/v1';

export interface AtThresholds {
  thresholds: PerClass<number>;
  per_class: PerClass<Confusion>;
  exact_match_accuracy: number;
  any_predicted_vs_explicit: { predicted: Confusion; explicit: Confusion };
}

export interface SeriesMetrics {
  n_series: number;
  prevalence: PerClass<number>;
  roc_auc: PerClass<number | null>;
  at_0_5: PerClass<Confusion>;
  at_thresholds: AtThresholds;
}

export interface Metrics {
  schema: typeof EVAL_SCHEMA;
  classes: string[];
  n_images: number;
  prevalence: PerClass<number>;
  at_0_5: PerClass<Confusion>;
  exact_match_accuracy: number;
  any_predicted_vs_explicit: { predicted: Confusion; explicit: Confusion };
  any_sweep: SweepRow[];
  at_precision: { target: number; per_class: PerClass<OperatingPoint> };
  at_recall: { target: number; per_class: PerClass<OperatingPoint> };
  roc_auc: PerClass<number | null>;
  log_loss: PerClass<number>;
  weighted_log_loss: number;
  at_thresholds: AtThresholds;
  series?: SeriesMetrics;
}

export interface EvaluateOptions {
  /** Series Instance UID of each image, for the per-series metrics. */
  series?: readonly string[];
  precisionTarget: number;
  recallTarget: number;
  /** The operating points in force, per class. */
  thresholds: PerClass<number>;
}

function atThresholds(y: Rows, p: Rows, classes: readonly string[], thresholds: PerClass<number>): AtThresholds {
  const t = classes.map((c) => thresholds[c]!);
  return {
    thresholds: Object.fromEntries(classes.map((c, i) => [c, t[i]!])),
    per_class: perClassAt(y, p, classes, t),
    exact_match_accuracy: exactMatch(y, p, t),
    any_predicted_vs_explicit: anyPredictedVsExplicit(y, p, t),
  };
}

export function evaluate(y: Rows, p: Rows, classes: readonly string[], options: EvaluateOptions): Metrics {
  if (y.length === 0 || y.length !== p.length) throw new Error(`evaluate needs as many label rows as probability rows, at least one (got ${y.length} and ${p.length})`);
  if (classes[0] !== 'any') throw new Error(`evaluate needs "any" as the first class (got ${classes.join(', ')})`);
  const half = classes.map(() => 0.5);
  const logLoss = logLossPerClass(y, p, classes);
  const metrics: Metrics = {
    schema: EVAL_SCHEMA,
    classes: [...classes],
    n_images: y.length,
    prevalence: prevalence(y, classes),
    at_0_5: perClassAt(y, p, classes, half),
    exact_match_accuracy: exactMatch(y, p, half),
    any_predicted_vs_explicit: anyPredictedVsExplicit(y, p, half),
    any_sweep: anySweep(y, p),
    at_precision: { target: options.precisionTarget, per_class: operatingPoints(y, p, classes, options.precisionTarget, 'precision') },
    at_recall: { target: options.recallTarget, per_class: operatingPoints(y, p, classes, options.recallTarget, 'recall') },
    roc_auc: rocAuc(y, p, classes),
    log_loss: logLoss,
    weighted_log_loss: weightedLogLoss(logLoss, classes),
    at_thresholds: atThresholds(y, p, classes, options.thresholds),
  };
  if (options.series) {
    const s = seriesMax(options.series, y, p);
    metrics.series = {
      n_series: s.ids.length,
      prevalence: prevalence(s.y, classes),
      roc_auc: rocAuc(s.y, s.p, classes),
      at_0_5: perClassAt(s.y, s.p, classes, half),
      at_thresholds: atThresholds(s.y, s.p, classes, options.thresholds),
    };
  }
  return metrics;
}
