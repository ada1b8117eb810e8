// Helpers for the eval suites: the training tool's `eval` as the independent computation.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

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
  mismatches: string[];
}

/**
 * Walks the Python tool's object and finds every value at the same key path in the node's:
 * numbers within `tolerance` (counts exactly), everything else equal. Keys only the node has
 * are not compared.
 */
export function compareShared(py: unknown, node: unknown, tolerance = 1e-9, at = '$', acc: Agreement = { numbers: 0, maxDiff: 0, mismatches: [] }): Agreement {
  if (typeof py === 'number' && typeof node === 'number') {
    const diff = Math.abs(py - node);
    acc.numbers++;
    acc.maxDiff = Math.max(acc.maxDiff, diff);
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
