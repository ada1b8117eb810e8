// Helpers for the eval suites: the training tool's `eval` as the independent computation.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { EvalSlice } from '../src/eval/dataset.js';
import type { RunInfo } from '../src/eval/report.js';

export const python = '/usr/bin/python3';
export const trainDir = path.resolve('tools/train');

/** Why the Python tool cannot run here, or null when it can. */
export function pythonEvalMissing(): string | null {
  if (!existsSync(python)) return `${python} is absent`;
  try {
    execFileSync(python, ['-c', 'import numpy, pandas, matplotlib, sklearn'], { cwd: trainDir, stdio: 'pipe' });
    return null;
  } catch {
    return 'Debian python3 lacks numpy/pandas/matplotlib/sklearn (docs/training.md, Install)';
  }
}

/** `python -m ich_train eval`, returning its metrics.json. */
export function runPythonEval(predictions: string, labels: string, out: string, precision = 0.7, recall = 0.9): Record<string, unknown> {
  execFileSync(python, ['-m', 'ich_train', 'eval', '--predictions', predictions, '--labels', labels, '--out', out, '--precision', String(precision), '--recall', String(recall)], {
    cwd: trainDir,
    stdio: 'pipe',
  });
  return JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')) as Record<string, unknown>;
}

export interface Agreement {
  /** Numbers compared. */
  numbers: number;
  maxDiff: number;
  /** Where the largest difference is. */
  maxDiffAt: string;
  /** The largest difference outside the log losses (counts, ratios, thresholds, AUCs: exact in both tools). */
  maxDiffExact: number;
  mismatches: string[];
}

/**
 * Walks the Python tool's object and finds every value at the same key path in the node's:
 * numbers within `tolerance` (counts exactly), everything else equal. Keys only the node has
 * are not compared.
 */
export function compareShared(py: unknown, node: unknown, tolerance = 1e-9, at = '$', acc: Agreement = { numbers: 0, maxDiff: 0, maxDiffAt: '', maxDiffExact: 0, mismatches: [] }): Agreement {
  if (typeof py === 'number' && typeof node === 'number') {
    const diff = Math.abs(py - node);
    acc.numbers++;
    if (!at.includes('log_loss')) acc.maxDiffExact = Math.max(acc.maxDiffExact, diff);
    if (diff > acc.maxDiff) {
      acc.maxDiff = diff;
      acc.maxDiffAt = at;
    }
    if (Number.isInteger(py) && /\.(tp|fp|fn|tn|n_images|n_series)$/.test(at) ? diff !== 0 : !(diff <= tolerance)) acc.mismatches.push(`${at}: python ${py}, node ${node}`);
  } else if (Array.isArray(py) && Array.isArray(node) && py.length === node.length) {
    py.forEach((v, i) => compareShared(v, node[i], tolerance, `${at}[${i}]`, acc));
  } else if (py !== null && typeof py === 'object' && node !== null && typeof node === 'object' && !Array.isArray(py)) {
    for (const [k, v] of Object.entries(py)) {
      if (!(k in node)) acc.mismatches.push(`${at}.${k}: missing in the node's output`);
      else compareShared(v, (node as Record<string, unknown>)[k], tolerance, `${at}.${k}`, acc);
    }
  } else if (py !== node) {
    acc.mismatches.push(`${at}: python ${JSON.stringify(py)}, node ${JSON.stringify(node)}`);
  }
  return acc;
}

export const rsnaClasses = ['any', 'epidural', 'intraparenchymal', 'intraventricular', 'subarachnoid', 'subdural'];

/** mulberry32: the same pseudo-random data on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * 240 slices in 12 series with RSNA's classes: ties between positives and negatives on "any",
 * no epidural positive, float32 probabilities, some certain and wrong (0 or 1).
 */
export function syntheticSlices(): { slices: EvalSlice[]; labels: number[][] } {
  const rnd = random(7);
  const slices: EvalSlice[] = [];
  const labels: number[][] = [];
  for (let s = 0; s < 12; s++) {
    const bleeding = s % 3 !== 0;
    for (let k = 0; k < 20; k++) {
      const y = rsnaClasses.map(() => 0);
      if (bleeding && rnd() < 0.5) {
        for (const c of [2, 3, 4, 5]) if (rnd() < 0.4) y[c] = 1;
        y[0] = y.slice(1).some((v) => v === 1) || rnd() < 0.2 ? 1 : 0; // "any" now and then without a subtype, as in RSNA
      }
      const p = y.map((label, c) => {
        const v = 1 / (1 + Math.exp(-(2.5 * label - 1.2 + 1.5 * (rnd() - 0.5) * 2)));
        if (c === 0) return Math.round(v * 20) / 20; // coarse: many ties between positives and negatives
        if (c === 3 && rnd() < 0.1) return label ? 0 : 1; // certain and wrong: log loss clipping
        return Math.fround(v); // float32, as the model returns them
      });
      slices.push({ file: `/d/${s}/${k}.dcm`, sopInstanceUid: `2.25.${s}${String(k).padStart(3, '0')}`, seriesUid: `2.25.9${s}`, z: 5 * k, probs: p, skipReason: null, error: null });
      labels.push(y);
    }
  }
  return { slices, labels };
}

/** Run information as the command records it, for reports built in tests. */
export function sampleRunInfo(classes: readonly string[]): RunInfo {
  const half = Object.fromEntries(classes.map((c) => [c, 0.5]));
  return {
    created_at: '2025-01-01T00:00:00.000Z',
    software_version: '0.1.0',
    dicom_dir: '/d',
    labels_file: 'l.csv',
    model: { path: '/m/<tiny>.onnx', sha256: 'ab'.repeat(32), name: 'tiny', version: '1', architecture: 'cnn', intended_use: 'test model, not for clinical use', demo: true, input_size: 64, windows: [{ name: 'brain', center: 40, width: 80 }], thresholds: half },
    config: { file: '/c.yaml', threshold_overrides: {}, smoothing: [1, 2, 1], selection: {} },
    engine: { provider: 'cpu', workers: 2, batch_size: 4 },
    seconds: 1.5,
  };
}
