/** The slices a reader should look at first: the most confident misses and false alarms. */
import type { EvalRow } from './dataset.js';

export interface Miss {
  sop_instance_uid: string;
  series_instance_uid: string;
  file: string;
  probability: number;
}

export interface WorstCases {
  threshold: number;
  /** Labelled positive, predicted below the threshold: lowest probability first. */
  false_negatives: Miss[];
  /** Labelled negative, predicted at or above the threshold: highest probability first. */
  false_positives: Miss[];
}

/** Per class, at the thresholds in force, at most `limit` of each kind. */
export function worstCases(rows: readonly EvalRow[], classes: readonly string[], thresholds: Readonly<Record<string, number>>, limit: number): Record<string, WorstCases> {
  return Object.fromEntries(
    classes.map((c, i) => {
      const t = thresholds[c]!;
      const miss = (r: EvalRow): Miss => ({ sop_instance_uid: r.sopInstanceUid, series_instance_uid: r.seriesUid, file: r.file, probability: r.p[i]! });
      const fn = rows.filter((r) => r.y[i] !== 0 && r.p[i]! < t).map(miss).sort((a, b) => a.probability - b.probability);
      const fp = rows.filter((r) => r.y[i] === 0 && r.p[i]! >= t).map(miss).sort((a, b) => b.probability - a.probability);
      return [c, { threshold: t, false_negatives: fn.slice(0, limit), false_positives: fp.slice(0, limit) }];
    }),
  );
}
