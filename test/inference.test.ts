import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { loadModelContract } from '../src/inference/contract.js';
import { InferenceEngine } from '../src/inference/engine.js';
import { decodePixels, initPixelDecoders } from '../src/dicom/pixels.js';
import { warmUpSlices } from '../src/inference/warmUpSlices.js';
import { fileToTensor } from '../src/imaging/tensor.js';
import { syntheticSeries, syntheticSlice, writeSlices } from './helpers/synthetic.js';
import { tinyModel } from './helpers/daemon.js';

const contract = loadModelContract(tinyModel);
const dir = mkdtempSync(path.join(tmpdir(), 'ich-inference-'));
const files = writeSlices(dir, syntheticSeries({ slices: 6, bleed: { x: 0.6, y: 0.45, radius: 0.12, hu: 70 } }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('inference engine (worker threads)', () => {
  let engine: InferenceEngine;
  beforeAll(async () => {
    engine = await InferenceEngine.start(contract, { providers: ['cpu'], threads: 2, batchSize: 4, deviceId: 0 });
  });
  afterAll(() => engine.close());

  it('runs its workers as SCHED_IDLE: they yield a core at once to the main thread', () => {
    expect(engine.status.priority).toBe('idle');
    // /proc/<pid>/task/<tid>/sched: policy 5 is SCHED_IDLE; the main thread keeps policy 0.
    const policies = readdirSync('/proc/self/task').map((tid) => Number(/^policy\s*:\s*(\d+)/m.exec(readFileSync(`/proc/self/task/${tid}/sched`, 'utf8'))?.[1]));
    expect(policies.filter((p) => p === 5).length).toBeGreaterThanOrEqual(engine.status.workers);
    expect(Number(/^policy\s*:\s*(\d+)/m.exec(readFileSync(`/proc/self/task/${process.pid}/sched`, 'utf8'))?.[1])).toBe(0);
  });

  it('gives the probabilities of a direct onnxruntime run on the same tensors', async () => {
    const result = await engine.classify(files.map((f) => ({ key: f, path: f })), { wantTensors: true });
    expect(result.items.map((i) => i.key)).toEqual(files);
    await initPixelDecoders();
    const session = await ort.InferenceSession.create(tinyModel);
    const { size, windows } = contract.input;
    for (const item of result.items) {
      const tensor = await fileToTensor(readFileSync(item.key), contract.input);
      expect(item.tensor).toEqual(tensor);
      const out = await session.run({ input: new ort.Tensor('float32', tensor, [1, windows.length, size, size]) });
      const direct = Array.from(out['probs']!.data as Float32Array);
      expect(item.probs).toHaveLength(6);
      item.probs!.forEach((p, c) => expect(Math.abs(p - direct[c]!)).toBeLessThan(1e-6));
      expect(item.probs!.every((p) => p >= 0 && p <= 1)).toBe(true);
    }
    expect(result.inferenceMs).toBeGreaterThan(0);
  });

  it("warms the workers' preprocessing on 512x512 phantoms of both common encodings, which decode to model inputs", async () => {
    await initPixelDecoders();
    const slices = warmUpSlices();
    const frames = await Promise.all(slices.map((s) => decodePixels(Buffer.from(s))));
    expect(frames.map((f) => [f.rows, f.columns, f.bitsStored, f.pixelRepresentation])).toEqual([
      [512, 512, 16, 1],
      [512, 512, 12, 0],
    ]);
    for (const s of slices) {
      const tensor = await fileToTensor(Buffer.from(s), contract.input);
      expect(tensor).toHaveLength(contract.input.windows.length * contract.input.size ** 2);
      // Head-like content: air at each window's floor (0) and tissue above it.
      expect(tensor.reduce((a, b) => Math.min(a, b))).toBe(0);
      expect(tensor.reduce((a, b) => Math.max(a, b))).toBeGreaterThan(0);
    }
  });

  it('reports a file that cannot be decoded and classifies the rest, each with its own input and probabilities', async () => {
    const junk = path.join(dir, 'junk.dcm');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(junk, Buffer.from('not dicom at all'));
    const good = [files[0]!, files[3]!, files[5]!];
    const result = await engine.classify(
      [{ key: 'junk', path: junk }, { key: good[0]!, path: good[0]! }, { key: 'junk2', path: junk }, ...good.slice(1).map((f) => ({ key: f, path: f }))],
      { wantTensors: true },
    );
    expect(result.items.map((i) => i.key)).toEqual(['junk', good[0], 'junk2', ...good.slice(1)]);
    for (const bad of [result.items[0]!, result.items[2]!]) {
      expect(bad.error).toMatch(/DICM|Part 10|not a DICOM/i);
      expect(bad.probs).toBeUndefined();
      expect(bad.tensor).toBeUndefined();
    }
    // The good ones fill the batch without gaps: each keeps its own input and result.
    const alone = await engine.classify(good.map((f) => ({ key: f, path: f })));
    for (const [i, item] of result.items.filter((r) => !r.error).entries()) {
      expect(item.tensor).toEqual(await fileToTensor(readFileSync(good[i]!), contract.input));
      item.probs!.forEach((p, c) => expect(Math.abs(p - alone.items[i]!.probs![c]!)).toBeLessThan(1e-6));
    }
  });

  it('reads a file above the reused buffer\'s 8 MiB whole, and the next small one still right', async () => {
    const { writeFileSync } = await import('node:fs');
    const large = path.join(dir, 'large.dcm');
    writeFileSync(large, syntheticSlice({ rows: 2100, columns: 2100 }).file);
    expect(readFileSync(large).length).toBeGreaterThan(8 * 1024 * 1024);
    const result = await engine.classify([large, files[1]!, large].map((f) => ({ key: f, path: f })), { wantTensors: true });
    for (const item of result.items) {
      expect(item.error).toBeUndefined();
      expect(item.tensor).toEqual(await fileToTensor(readFileSync(item.key), contract.input));
    }
  });

  it('runs one single-threaded session per thread asked for, gives each two batches at once, and queues batches beyond them', async () => {
    expect(engine.status.workers).toBe(2);
    expect(engine.freeSlots).toBe(4);
    const many = Array.from({ length: 8 }, (_, b) => files.map((f, i) => ({ key: `${b}/${i}`, path: f })));
    const pending = many.map((batch) => engine.classify(batch));
    expect(engine.freeSlots).toBe(0);
    const results = await Promise.all(pending);
    // Each batch answered with its own items, in order, although a worker held two at once.
    results.forEach((r, b) => expect(r.items.map((i) => i.key)).toEqual(files.map((_, i) => `${b}/${i}`)));
    expect(results.every((r) => r.items.every((i) => i.probs?.length === 6))).toBe(true);
    expect(engine.freeSlots).toBe(4);
  });
});

describe('execution providers', () => {
  it('fails with a clear error when CUDA is asked for and missing', async () => {
    await expect(InferenceEngine.start(contract, { providers: ['cuda'], threads: 1, batchSize: 0, deviceId: 0 })).rejects.toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      message: expect.stringMatching(/no execution provider of \[cuda\] could start \(cuda: .+\)/),
    });
  });

  it('falls back in the configured order and says why', async () => {
    const engine = await InferenceEngine.start(contract, { providers: ['cuda', 'cpu'], threads: 1, batchSize: 0, deviceId: 0 });
    try {
      expect(engine.status.provider).toBe('cpu');
      expect(engine.status.fallbacks).toEqual([{ provider: 'cuda', reason: expect.stringMatching(/\S/) }]);
      expect(engine.status.batchSize).toBe(4);
      const r = await engine.classify([{ key: 'a', path: files[0]! }]);
      expect(r.items[0]!.probs).toHaveLength(6);
    } finally {
      await engine.close();
    }
  });
});
