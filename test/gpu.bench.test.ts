import { afterAll, expect, test } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { agreement, runProviderBench, type ClassifyOutput } from '../src/bench/providerBench.js';
import { tinyModel } from './helpers/daemon.js';

// The provider benchmark that tools/gpu/device-run.sh runs on a GPU host, dry-run here at tiny
// size: cpu measured end to end, webgpu recorded as unavailable, the figures file written.

const out = mkdtempSync(path.join(tmpdir(), 'ich-gpu-bench-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

test('cpu is measured through classify, raw onnxruntime and the SCP; webgpu without an adapter is recorded as unavailable', async () => {
  const lines: string[] = [];
  const result = await runProviderBench({
    out,
    modelPath: tinyModel,
    phantoms: 6,
    providers: ['cpu', 'webgpu'],
    rawSlices: 8,
    deadline: Date.now() + 120_000,
    log: (line) => lines.push(line),
  });
  const cpu = result.providers.cpu;
  if (!cpu || 'unavailable' in cpu) throw new Error(`cpu not measured: ${JSON.stringify(cpu)}`);
  expect(cpu.startupSeconds).toBeGreaterThan(0);
  expect(cpu.classify.phantoms).toMatchObject({ slices: 6, failed: 0, preprocessMsPerSlice: expect.any(Number), inferenceMsPerSlice: expect.any(Number) });
  expect(cpu.classify.real).toBeUndefined();
  expect(cpu.raw).toMatchObject({ batch: 4, slicesPerSecond: expect.any(Number) });
  expect('sweep' in cpu.raw && cpu.raw.sweep.map((s) => s.batch)).toEqual([1, 4, 8, 32, 128]);
  expect(cpu.ingest).toMatchObject({ slices: 6, stored: 6, classified: 6 });
  expect('ratioToRaw' in cpu.ingest && cpu.ingest.ratioToRaw).toBeGreaterThan(0);

  expect(result.providers.webgpu).toEqual({ unavailable: expect.stringMatching(/^no execution provider of \[webgpu\] could start \(webgpu: .*No supported adapters/) });
  expect(result.agreement).toEqual({});
  expect(lines.some((l) => l.startsWith('webgpu: unavailable: no execution provider'))).toBe(true);
  expect(JSON.parse(readFileSync(path.join(out, 'providers.json'), 'utf8'))).toEqual(result);
}, 150_000);

test('agreement: the largest and mean absolute difference per probability, and series decided differently', () => {
  const slice = (uid: string, probs: number[] | null) => ({ sopInstanceUid: uid, seriesUid: 's', probs, error: null, preprocessMs: 0, inferenceMs: 0 });
  const decided = (decision: string) => [{ seriesUid: 's', outcome: { kind: 'decided', result: { decision } } }];
  const a: ClassifyOutput = { slices: [slice('1', [0.1, 0.5]), slice('2', [0.2, 0.2]), slice('3', null)], series: decided('urgent') };
  const b: ClassifyOutput = { slices: [slice('2', [0.2, 0.26]), slice('1', [0.1, 0.5]), slice('3', [0.9, 0.9])], series: decided('negative') };
  const r = agreement(a, b);
  expect(r).toMatchObject({ slices: 2, decisionsDiffer: 1 });
  expect(r.maxAbsDiff).toBeCloseTo(0.06, 12);
  expect(r.meanAbsDiff).toBeCloseTo(0.015, 12);
  expect(agreement(a, a)).toEqual({ slices: 2, maxAbsDiff: 0, meanAbsDiff: 0, decisionsDiffer: 0 });
});
