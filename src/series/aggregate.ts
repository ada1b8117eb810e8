/** Per-series decision from per-slice probabilities: pure functions, no I/O. */
import type { Decision, KeySlice } from './result.js';

export interface SliceScore {
  sopInstanceUid: string;
  sopClassUid: string;
  instanceNumber: number | null;
  z: number | null;
  /** One probability per class, in the model's order. */
  probs: readonly number[];
}

export interface Aggregation {
  decision: Decision;
  scores: Record<string, number>;
  flagged: string[];
  keySlices: Record<string, KeySlice[]>;
  /** The slices in z order with their smoothed probabilities. */
  ordered: Array<SliceScore & { smoothed: number[] }>;
}

/** Most key slices listed per flagged class. */
export const keySlicesPerClass = 3;

type Orderable = Pick<SliceScore, 'z' | 'instanceNumber' | 'sopInstanceUid'>;

/**
 * Slices in order along the slice normal (z from ingest); slices without a position follow,
 * by instance number; the SOP Instance UID breaks ties so the order is always the same.
 */
export function orderSlices<T extends Orderable>(slices: readonly T[]): T[] {
  const inf = Number.POSITIVE_INFINITY;
  return [...slices].sort(
    (a, b) =>
      (a.z ?? inf) - (b.z ?? inf) ||
      (a.instanceNumber ?? inf) - (b.instanceNumber ?? inf) ||
      (a.sopInstanceUid < b.sopInstanceUid ? -1 : a.sopInstanceUid > b.sopInstanceUid ? 1 : 0),
  );
}

/**
 * Weighted moving average along z. At the ends only the weights that fall on slices count,
 * renormalised, so an edge slice is not pulled towards zero.
 */
export function smooth(values: readonly number[], kernel: readonly number[] | 'none'): number[] {
  if (kernel === 'none' || kernel.length === 1) return [...values];
  const half = (kernel.length - 1) / 2;
  return values.map((_, i) => {
    let sum = 0;
    let weight = 0;
    for (let k = 0; k < kernel.length; k++) {
      const j = i + k - half;
      if (j < 0 || j >= values.length) continue;
      sum += kernel[k]! * values[j]!;
      weight += kernel[k]!;
    }
    return weight > 0 ? sum / weight : values[i]!;
  });
}

/** Urgent when any class's series score (max over smoothed slices) reaches its threshold. */
export function aggregate(
  slices: readonly SliceScore[],
  classes: readonly string[],
  thresholds: Readonly<Record<string, number>>,
  kernel: readonly number[] | 'none',
): Aggregation {
  const ordered = orderSlices(slices);
  const perClass = classes.map((_, c) => smooth(ordered.map((s) => s.probs[c] ?? 0), kernel));
  const scores: Record<string, number> = {};
  const flagged: string[] = [];
  const keySlices: Record<string, KeySlice[]> = {};
  classes.forEach((name, c) => {
    const values = perClass[c]!;
    const score = values.length > 0 ? Math.max(...values) : 0;
    scores[name] = score;
    const threshold = thresholds[name] ?? 1;
    if (values.length === 0 || score < threshold) return;
    flagged.push(name);
    keySlices[name] = values
      .map((probability, i) => ({ probability, i }))
      .filter((x) => x.probability >= threshold)
      .sort((a, b) => b.probability - a.probability || a.i - b.i)
      .slice(0, keySlicesPerClass)
      .map(({ probability, i }) => {
        const s = ordered[i]!;
        return { sopInstanceUid: s.sopInstanceUid, sopClassUid: s.sopClassUid, instanceNumber: s.instanceNumber, z: s.z, index: i + 1, probability };
      });
  });
  return {
    decision: flagged.length > 0 ? 'urgent' : 'negative',
    scores,
    flagged,
    keySlices,
    ordered: ordered.map((s, i) => ({ ...s, smoothed: perClass.map((values) => values[i]!) })),
  };
}

/**
 * For the early alert: the first run of `count` adjacent slices (in z order) whose raw
 * probability of the class reaches `threshold`, or undefined.
 */
export function adjacentRun(slices: readonly SliceScore[], classIndex: number, threshold: number, count: number): SliceScore[] | undefined {
  const ordered = orderSlices(slices);
  let run: SliceScore[] = [];
  for (const s of ordered) {
    run = (s.probs[classIndex] ?? 0) >= threshold ? [...run, s] : [];
    if (run.length >= count) return run;
  }
  return undefined;
}
