/** ROC and precision-recall curves of one class, from the same counts as the metrics. */
import { countsPerThreshold } from './metrics.js';

export interface Point {
  x: number;
  y: number;
}

/** (false positive rate, true positive rate) from the highest threshold down, from (0, 0) to (1, 1). Null with one label value. */
export function rocCurve(y: readonly number[], scores: readonly number[]): Point[] | null {
  const c = countsPerThreshold(y, scores);
  if (c.positives === 0 || c.negatives === 0) return null;
  const points: Point[] = [{ x: 0, y: 0 }];
  for (let i = c.thresholds.length - 1; i >= 0; i--) points.push({ x: c.fp[i]! / c.negatives, y: c.tp[i]! / c.positives });
  return points;
}

/** (recall, precision) at each observed score, from the highest threshold down. Null without positives. */
export function prCurve(y: readonly number[], scores: readonly number[]): Point[] | null {
  const c = countsPerThreshold(y, scores);
  if (c.positives === 0) return null;
  const points: Point[] = [];
  for (let i = c.thresholds.length - 1; i >= 0; i--) points.push({ x: c.tp[i]! / c.positives, y: c.tp[i]! / (c.tp[i]! + c.fp[i]!) });
  return points;
}
