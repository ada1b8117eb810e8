// The node's preprocessing against the Python reference run now over real RSNA slices in
// ../shared/data (every real encoding: 12-bit unsigned, 16-bit signed, intercept 0 and
// -1000, implicit and explicit VR, JPEG-LS). The data lives outside the repository; without
// it these tests are skipped.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileToTensor } from '../src/imaging/tensor.js';
import type { InputSpec } from '../src/imaging/types.js';
import { readNpyFloat32 } from './helpers/npy.js';

const repoRoot = path.resolve(import.meta.dirname, '..');
const dataRoot = path.resolve(repoRoot, '../shared/data');
const present = existsSync(dataRoot);
if (!present) console.warn(`real-data preprocessing comparison skipped: ${dataRoot} is absent`);

const spec: InputSpec = {
  size: 224,
  windows: [
    { name: 'brain', center: 40, width: 80 },
    { name: 'subdural', center: 80, width: 200 },
    { name: 'bone', center: 600, width: 2800 },
  ],
};

function sorted(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .map((f) => path.join(dir, f));
}

/** Four slices spread over each uncompressed series, the middle slice of every fourth JPEG-LS series, every edge case. */
function sampleFiles(): string[] {
  if (!present) return [];
  const spread = (files: string[]) => [0, 1, 2, 3].map((k) => files[Math.round((k * (files.length - 1)) / 3)]!);
  return [
    ...sorted(path.join(dataRoot, 'rsna-series')).flatMap((series) => spread(sorted(series))),
    ...sorted(path.join(dataRoot, 'rsna-series-jpegls'))
      .filter((_, i) => i % 4 === 0)
      .map((series) => {
        const files = sorted(series);
        return files[Math.floor(files.length / 2)]!;
      }),
    ...sorted(path.join(dataRoot, 'rsna-edge-cases')),
    ...sorted(path.join(dataRoot, 'misc')),
  ];
}

const files = sampleFiles();

describe.skipIf(!present)('real data: node tensors equal the Python reference', () => {
  let referenceDir = '';
  let uidByFile: Record<string, string> = {};

  beforeAll(() => {
    referenceDir = mkdtempSync(path.join(tmpdir(), 'ich-reference-'));
    execFileSync(
      '/usr/bin/python3',
      ['-m', 'ich_train', 'reference', ...files, '--out', referenceDir, '--size', String(spec.size), '--windows', JSON.stringify(spec.windows)],
      { cwd: path.join(repoRoot, 'tools', 'train'), stdio: 'pipe', timeout: 170_000 },
    );
    uidByFile = JSON.parse(readFileSync(path.join(referenceDir, 'index.json'), 'utf8')) as Record<string, string>;
  }, 180_000);

  afterAll(() => {
    if (referenceDir) rmSync(referenceDir, { recursive: true, force: true });
  });

  it('samples every folder', () => {
    expect(files.length).toBeGreaterThanOrEqual(24 + 6 + 23 + 1);
  });

  it.each(files.map((f) => [path.relative(dataRoot, f), f]))('%s', async (_name, file) => {
    const uid = uidByFile[file];
    expect(uid, 'the reference wrote no tensor for this file').toBeDefined();
    const expected = readNpyFloat32(readFileSync(path.join(referenceDir, `${uid}.npy`)));
    expect(expected.shape).toEqual([spec.windows.length, spec.size, spec.size]);
    const tensor = await fileToTensor(readFileSync(file), spec);
    let max = 0;
    for (let i = 0; i < tensor.length; i++) max = Math.max(max, Math.abs(tensor[i]! - expected.data[i]!));
    expect(max).toBeLessThanOrEqual(1e-4);
  });
});
