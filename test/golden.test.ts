// The node's preprocessing against the Python reference's tensors for the committed golden
// fixtures (written by `python -m ich_train golden`, see tools/train/ich_train/golden.py).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileToTensor } from '../src/imaging/tensor.js';
import type { WindowSpec } from '../src/imaging/types.js';
import { readNpyFloat32 } from './helpers/npy.js';

interface GoldenCase {
  name: string;
  file: string;
  expected: string;
  size: number;
  transferSyntax: string;
  description: string;
}

const dir = path.join(import.meta.dirname, 'fixtures', 'golden');
const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { windows: WindowSpec[]; cases: GoldenCase[] };

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('golden fixtures: node tensors equal the Python reference', () => {
  it.each(manifest.cases.map((c) => [c.name, c]))('%s', async (_name, c) => {
    const expected = readNpyFloat32(readFileSync(path.join(dir, c.expected)));
    expect(expected.shape).toEqual([manifest.windows.length, c.size, c.size]);
    const tensor = await fileToTensor(readFileSync(path.join(dir, c.file)), { size: c.size, windows: manifest.windows });
    expect(tensor.length).toBe(expected.data.length);
    expect(maxAbsDifference(tensor, expected.data)).toBeLessThanOrEqual(1e-4);
  });

  it('covers the encodings the issue asks for', () => {
    const syntaxes = new Set(manifest.cases.map((c) => c.transferSyntax));
    for (const syntax of ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.5', '1.2.840.10008.1.2.4.57', '1.2.840.10008.1.2.4.70', '1.2.840.10008.1.2.4.80', '1.2.840.10008.1.2.4.90', '1.2.840.10008.1.2.4.201']) {
      expect(syntaxes).toContain(syntax);
    }
    expect(manifest.cases.map((c) => c.name)).toEqual(expect.arrayContaining(['u12_defect', 'monochrome1', 'padding', 's16_intercept0', 'slope_half']));
  });
});
