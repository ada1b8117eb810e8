import { describe, expect, it } from 'vitest';
import {
  anyPredictedVsExplicit,
  anySweep,
  binaryAuc,
  confusion,
  countsPerThreshold,
  exactMatch,
  logLossPerClass,
  operatingPoints,
  seriesMax,
  thresholdAtPrecision,
  thresholdAtRecall,
  weightedLogLoss,
} from '../src/eval/metrics.js';
import { evaluate } from '../src/eval/evaluate.js';

// One class, six images, a tie between a positive and a negative at 0.4.
const y = [1, 1, 0, 0, 1, 0];
const s = [0.9, 0.4, 0.4, 0.1, 0.6, 0.7];

describe('eval metrics, checked by hand', () => {
  it('counts per distinct score, predicting p >= t', () => {
    expect(countsPerThreshold(y, s)).toEqual({ thresholds: [0.1, 0.4, 0.6, 0.7, 0.9], tp: [3, 3, 2, 1, 1], fp: [3, 2, 1, 1, 0], positives: 3, negatives: 3 });
  });

  it('confusion at 0.5', () => {
    expect(confusion(y, s.map((v) => v >= 0.5))).toEqual({ accuracy: 4 / 6, precision: 2 / 3, recall: 2 / 3, specificity: 2 / 3, tp: 2, fp: 1, fn: 1, tn: 2 });
    // zero denominators are 0, as sklearn's zero_division=0
    expect(confusion([0, 0], [false, false])).toEqual({ accuracy: 1, precision: 0, recall: 0, specificity: 1, tp: 0, fp: 0, fn: 0, tn: 2 });
  });

  it('threshold at precision: the lowest observed score reaching it (inclusive)', () => {
    expect(thresholdAtPrecision(y, s, 0.5)).toBe(0.1);
    expect(thresholdAtPrecision(y, s, 0.6)).toBe(0.4); // 3/5 == 0.6
    expect(thresholdAtPrecision(y, s, 0.61)).toBe(0.6);
    expect(thresholdAtPrecision(y, s, 0.7)).toBe(0.9); // 0.6 gives 2/3, 0.7 gives 1/2
    expect(thresholdAtPrecision(y, s, 1.01)).toBeNull();
  });

  it('threshold at recall: the highest observed score reaching it', () => {
    expect(thresholdAtRecall(y, s, 0.9)).toBe(0.4);
    expect(thresholdAtRecall(y, s, 0.6)).toBe(0.6);
    expect(thresholdAtRecall(y, s, 0.3)).toBe(0.9);
    expect(thresholdAtRecall([0, 0], [0.2, 0.3], 0.9)).toBeNull();
  });

  it('ROC AUC counts a tied positive/negative pair as one half', () => {
    // pairs won: 0.9 beats 3, 0.6 beats 2, 0.4 beats 1 and ties 1 -> 6.5 of 9
    expect(binaryAuc(y, s)).toBeCloseTo(6.5 / 9, 15);
    expect(binaryAuc([0, 1], [0.3, 0.3])).toBe(0.5);
    expect(binaryAuc([1, 1], [0.3, 0.4])).toBeNull();
  });

  it('log loss clips to [1e-7, 1 - 1e-7]; the RSNA weights put 2 on "any"', () => {
    const ll = logLossPerClass([[1, 0], [0, 1]], [[0.5, 1], [0, 1]], ['any', 'x']);
    expect(ll['any']).toBeCloseTo((Math.LN2 - Math.log(1 - 1e-7)) / 2, 15);
    // p = 1 on a negative costs -ln(1 - (1 - 1e-7)), as numpy computes it
    expect(ll['x']).toBeCloseTo((-Math.log(1 - (1 - 1e-7)) - Math.log(1 - 1e-7)) / 2, 15);
    expect(weightedLogLoss({ any: 0.3, a: 0.1, b: 0.2 }, ['any', 'a', 'b'])).toBeCloseTo((0.6 + 0.1 + 0.2) / 4, 15);
  });

  const classes = ['any', 'a', 'b'];
  const ys = [
    [1, 1, 0],
    [1, 0, 1],
    [0, 0, 0],
    [1, 0, 1],
  ];
  const ps = [
    [0.8, 0.7, 0.1],
    [0.3, 0.2, 0.6],
    [0.6, 0.1, 0.2],
    [0.2, 0.1, 0.4],
  ];

  it('exact match and "any" predicted vs OR of subtypes (Tables II, III)', () => {
    expect(exactMatch(ys, ps, [0.5, 0.5, 0.5])).toBe(1 / 4); // only image 0 is right on every class
    const t3 = anyPredictedVsExplicit(ys, ps, [0.5, 0.5, 0.5]);
    expect(t3.predicted).toMatchObject({ tp: 1, fp: 1, fn: 2, tn: 0 });
    expect(t3.explicit).toMatchObject({ tp: 2, fp: 0, fn: 1, tn: 1, recall: 2 / 3, precision: 1 });
    expect(anyPredictedVsExplicit(ys, ps, [0.5, 0.5, 0.4]).explicit).toMatchObject({ tp: 3, fn: 0 });
  });

  it('operating points per class and the "any" sweep (Tables IV, V)', () => {
    const points = operatingPoints(ys, ps, classes, 0.7, 'precision');
    // any: scores 0.2(+) 0.3(+) 0.6(-) 0.8(+): precision at 0.2 is 3/4
    expect(points['any']).toMatchObject({ threshold: 0.2, precision: 0.75, recall: 1, accuracy: 0.75 });
    expect(points['a']).toMatchObject({ threshold: 0.7, precision: 1, recall: 1 });
    expect(operatingPoints(ys, ps, classes, 0.9, 'recall')['b']).toMatchObject({ threshold: 0.4, recall: 1, fp: 0 });
    const sweep = anySweep(ys, ps);
    expect(sweep.map((r) => r.target_precision)).toEqual([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]);
    expect(sweep[5]).toEqual({ target_precision: 0.75, threshold: 0.2, precision: 0.75, recall: 1, accuracy: 0.75 });
    expect(sweep[6]).toEqual({ target_precision: 0.8, threshold: 0.8, precision: 1, recall: 1 / 3, accuracy: 0.5 });
  });

  it('series labels and probabilities are maxima over slices', () => {
    expect(seriesMax(['s1', 's2', 's1', 's2'], ys, ps)).toEqual({
      ids: ['s1', 's2'],
      y: [[1, 1, 0], [1, 0, 1]],
      p: [[0.8, 0.7, 0.2], [0.3, 0.2, 0.6]],
    });
  });

  it('evaluate assembles the documented object, with the thresholds in force', () => {
    const m = evaluate(ys, ps, classes, { series: ['s1', 's2', 's1', 's2'], precisionTarget: 0.7, recallTarget: 0.9, thresholds: { any: 0.25, a: 0.5, b: 0.5 } });
    expect(m.schema).toBe('ich-triage/eval/v1');
    expect(m.n_images).toBe(4);
    expect(m.prevalence).toEqual({ any: 0.75, a: 0.25, b: 0.5 });
    expect(m.at_0_5['any']).toMatchObject({ tp: 1, fp: 1, fn: 2, tn: 0 });
    expect(m.at_thresholds.per_class['any']).toMatchObject({ tp: 2, fp: 1, fn: 1, tn: 0 });
    expect(m.at_thresholds.thresholds).toEqual({ any: 0.25, a: 0.5, b: 0.5 });
    expect(m.roc_auc).toEqual({ any: 1 / 3, a: 1, b: 1 }); // only 0.8 of the positives beats the negative 0.6
    expect(m.series?.n_series).toBe(2);
    expect(m.series?.roc_auc['any']).toBeNull(); // both series are positive
    expect(m.series?.at_0_5['b']).toMatchObject({ tp: 1, fp: 0, fn: 0, tn: 1 });
    expect(() => evaluate([], [], classes, { precisionTarget: 0.7, recallTarget: 0.9, thresholds: {} })).toThrow(/at least one/);
  });
});
