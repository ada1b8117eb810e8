import { describe, expect, it } from 'vitest';
import { aggregate, adjacentRun, orderSlices, smooth, type SliceScore } from '../src/series/aggregate.js';
import { selectionRefusal, compilePattern } from '../src/series/selection.js';
import { decideSeries } from '../src/series/decide.js';
import { configSchema } from '../src/config/schema.js';
import type { SeriesRow, SeriesSlice } from '../src/store/series.js';
import { positionAlongNormal, tiltDegrees } from '../src/series/geometry.js';

const classes = ['any', 'epidural', 'intraparenchymal', 'intraventricular', 'subarachnoid', 'subdural'];
const half = Object.fromEntries(classes.map((c) => [c, 0.5]));
const defaults = configSchema.parse({ model: { path: 'm.onnx' } });

function slice(i: number, any: number, z: number | null = i * 5, extra: Partial<SliceScore> = {}): SliceScore {
  return { sopInstanceUid: `1.2.${i}`, sopClassUid: '1.2.840.10008.5.1.4.1.1.2', instanceNumber: i + 1, z, probs: [any, 0, any, 0, 0, 0], ...extra };
}

describe('smooth', () => {
  it('applies a normalised kernel and renormalises at the edges', () => {
    expect(smooth([0, 0, 1, 0, 0], [1, 2, 1])).toEqual([0, 0.25, 0.5, 0.25, 0]);
    // Edge: weights 2 and 1 fall on slices: (2*1 + 1*0) / 3
    expect(smooth([1, 0], [1, 2, 1])).toEqual([2 / 3, 1 / 3]);
    expect(smooth([0.2, 0.9], 'none')).toEqual([0.2, 0.9]);
  });
});

describe('orderSlices', () => {
  it('orders by z, then instance number, then UID', () => {
    const s = [slice(0, 0, 10), slice(1, 0, -5), slice(2, 0, null), slice(3, 0, 10)];
    expect(orderSlices(s).map((x) => x.sopInstanceUid)).toEqual(['1.2.1', '1.2.0', '1.2.3', '1.2.2']);
  });
});

describe('aggregate', () => {
  it('takes the max of the smoothed probabilities and flags classes at their threshold', () => {
    const slices = [0.1, 0.2, 0.9, 0.95, 0.3].map((p, i) => slice(i, p));
    const a = aggregate(slices, classes, half, [1, 2, 1]);
    // smoothed: slice 3 = (0.9 + 2*0.95 + 0.3)/4 = 0.775
    expect(a.scores['any']).toBeCloseTo(0.775, 10);
    expect(a.decision).toBe('urgent');
    expect(a.flagged).toEqual(['any', 'intraparenchymal']);
    // smoothed: 0.133, 0.3, 0.7375, 0.775, 0.517: slices 4, 3, 5 reach 0.5
    expect(a.keySlices['any']!.map((k) => k.index)).toEqual([4, 3, 5]);
    expect(a.keySlices['any']![0]).toMatchObject({ sopInstanceUid: '1.2.3', instanceNumber: 4, z: 15 });
  });

  it('a single noisy slice is damped by smoothing but not without it', () => {
    const slices = [0, 0, 0.6, 0, 0].map((p, i) => slice(i, p));
    expect(aggregate(slices, classes, half, [1, 2, 1]).decision).toBe('negative');
    expect(aggregate(slices, classes, half, 'none').decision).toBe('urgent');
  });

  it('uses per-class thresholds', () => {
    const slices = [0.35, 0.35, 0.35].map((p, i) => slice(i, p));
    const a = aggregate(slices, classes, { ...half, any: 0.3 }, 'none');
    expect(a.flagged).toEqual(['any']);
  });
});

describe('adjacentRun', () => {
  it('finds K adjacent slices over the threshold in z order', () => {
    const s = [slice(0, 0.95, 0), slice(1, 0.1, 5), slice(2, 0.92, 10), slice(3, 0.97, 15)];
    expect(adjacentRun(s, 0, 0.9, 2)!.map((x) => x.sopInstanceUid)).toEqual(['1.2.2', '1.2.3']);
    expect(adjacentRun(s, 0, 0.9, 3)).toBeUndefined();
  });
});

describe('geometry', () => {
  it('projects positions on the slice normal and measures tilt', () => {
    const axial = [1, 0, 0, 0, 1, 0];
    expect(positionAlongNormal([10, 20, 30], axial)).toBe(30);
    expect(tiltDegrees(axial)).toBe(0);
    const tilted = [1, 0, 0, 0, Math.cos(Math.PI / 18), -Math.sin(Math.PI / 18)];
    expect(tiltDegrees(tilted)).toBeCloseTo(10, 6);
    expect(tiltDegrees([1, 0, 0, 0, 0, -1])).toBeCloseTo(90, 6);
    expect(positionAlongNormal([1, 2, 3], undefined)).toBe(3);
    expect(positionAlongNormal(undefined, axial)).toBeUndefined();
  });
});

describe('selectionRefusal', () => {
  const rules = defaults.series.selection;
  const axial = Array.from({ length: 20 }, () => ({ tiltDeg: 0, imageType: null }));
  it('classifies minimal real headers (no ImageType, description or body part)', () => {
    expect(selectionRefusal({ modality: 'CT', seriesDescription: null, contrastAgent: null }, axial, rules)).toBeNull();
  });
  it('says why a series is skipped', () => {
    expect(selectionRefusal({ modality: 'MR', seriesDescription: null, contrastAgent: null }, axial, rules)).toMatch(/modality MR/);
    expect(selectionRefusal({ modality: 'CT', seriesDescription: null, contrastAgent: null }, axial.slice(0, 3), rules)).toMatch(/3 slices, fewer than/);
    const sagittal = axial.map(() => ({ tiltDeg: 90, imageType: null }));
    expect(selectionRefusal({ modality: 'CT', seriesDescription: null, contrastAgent: null }, sagittal, rules)).toMatch(/not axial: slice normal 90 degrees/);
    const scouts = axial.map(() => ({ tiltDeg: 0, imageType: 'ORIGINAL\\PRIMARY\\LOCALIZER' }));
    expect(selectionRefusal({ modality: 'CT', seriesDescription: null, contrastAgent: null }, scouts, rules)).toMatch(/LOCALIZER/);
    const bone = { ...rules, excludeSeriesDescriptions: ['(?i)bone'] };
    expect(selectionRefusal({ modality: 'CT', seriesDescription: 'Head BONE 1mm', contrastAgent: null }, axial, bone)).toMatch(/matches "\(\?i\)bone"/);
    const noContrast = { ...rules, excludeContrast: true };
    expect(selectionRefusal({ modality: 'CT', seriesDescription: null, contrastAgent: 'OMNIPAQUE' }, axial, noContrast)).toMatch(/contrast/);
  });
  it('compiles inline flags', () => {
    expect(compilePattern('(?i)abc').test('ABC')).toBe(true);
    expect(compilePattern('abc').test('ABC')).toBe(false);
  });
});

describe('decideSeries', () => {
  const row: SeriesRow = {
    seriesUid: 'S', studyUid: 'T', modality: 'CT', seriesDescription: null, contrastAgent: null, accessionNumber: 'A1',
    expectedSlices: null, firstReceivedAt: 1000, lastReceivedAt: 2000, state: 'open', revision: 0, skipReason: null,
    decision: null, result: null, modelSha256: null, modelVersion: null, decidedAt: null, earlyAlertAt: null,
  };
  const model = { name: 'm', version: '1', architecture: 'a', intendedUse: 'test model', sha256: 'ab', demo: true };
  const mk = (i: number, any: number | null, state: SeriesSlice['state'] = 'classified'): SeriesSlice => ({
    sopInstanceUid: `1.${i}`, sopClassUid: '1.2.840.10008.5.1.4.1.1.2', instanceNumber: i, z: i, tiltDeg: 0, imageType: null,
    state, skipReason: state === 'skipped' ? 'SOP class x' : null, error: state === 'failed' ? 'corrupt' : null, path: 'p', receivedAt: 1500,
    probs: any === null ? null : JSON.stringify([any, 0, 0, 0, 0, 0]), modelSha256: 'ab', preprocessMs: 2, inferenceMs: 10,
  });
  const ctx = { classes, thresholds: half, model, series: defaults.series, now: 5000 };

  it('decides from classified slices, counts failures and records timings', () => {
    const slices = [...Array.from({ length: 10 }, (_, i) => mk(i, i === 5 ? 0.99 : 0.01)), mk(10, null, 'failed')];
    const out = decideSeries(row, slices, { ...ctx, series: { ...defaults.series, smoothing: 'none' } });
    expect(out.kind).toBe('decided');
    if (out.kind !== 'decided') return;
    expect(out.result).toMatchObject({ decision: 'urgent', flagged: ['any'], sliceCount: 10, failedSlices: 1, revision: 0 });
    expect(out.result.timings).toMatchObject({ firstReceivedAt: 1000, lastReceivedAt: 2000, decidedAt: 5000, preprocessMs: 22, inferenceMs: 110 });
    expect(out.result.keySlices['any']![0]!.sopInstanceUid).toBe('1.5');
  });

  it('skips series without classifiable slices, saying why', () => {
    expect(decideSeries(row, [mk(1, null, 'skipped')], ctx)).toEqual({ kind: 'skipped', reason: 'no slices to classify: SOP class x' });
    const failed = Array.from({ length: 10 }, (_, i) => mk(i, null, 'failed'));
    expect(decideSeries(row, failed, ctx)).toMatchObject({ kind: 'skipped', reason: expect.stringMatching(/none of 10 slices could be classified: corrupt/) });
    expect(decideSeries({ ...row, modality: 'MR' }, [mk(1, 0.1)], ctx)).toMatchObject({ kind: 'skipped' });
  });
});
