import { afterAll, describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { IchError } from '../src/errors.js';
import { loadModelContract } from '../src/inference/contract.js';
import { InferenceEngine, preprocessWorkers, type EngineOptions } from '../src/inference/engine.js';
import { providerFailureReason, providerList, providerOption } from '../src/inference/providers.js';
import { syntheticSeries, writeSlices } from './helpers/synthetic.js';
import { tinyModel } from './helpers/daemon.js';

// Execution providers on a host without a GPU: selection, fallback order, error texts, config
// validation, and the preprocess workers that feed a GPU session (exercised here on CPU).

const contract = loadModelContract(tinyModel);
const dir = mkdtempSync(path.join(tmpdir(), 'ich-gpu-'));
const files = writeSlices(dir, syntheticSeries({ slices: 9, bleed: { x: 0.6, y: 0.45, radius: 0.12, hu: 70 } }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base: EngineOptions = { providers: ['cpu'], threads: 1, batchSize: 0, deviceId: 0 };

async function withEngine<T>(options: Partial<EngineOptions>, use: (e: InferenceEngine) => Promise<T>): Promise<T> {
  const engine = await InferenceEngine.start(contract, { ...base, ...options });
  try {
    return await use(engine);
  } finally {
    await engine.close();
  }
}

function probsOf(engine: InferenceEngine): Promise<number[][]> {
  return engine.classify(files.map((f) => ({ key: f, path: f }))).then((r) => r.items.map((i) => i.probs!));
}

const cudaHint = /cuda needs libonnxruntime_providers_cuda\.so .*ONNXRUNTIME_NODE_INSTALL=cuda12.*CUDA 12\.x and cuDNN 9\.x.*docs\/gpu\.md/;
const webgpuHint = /webgpu needs the Vulkan loader \(libvulkan1\).*PrivateDevices=false.*docs\/gpu\.md/;

describe('provider selection and fallback (no GPU here)', () => {
  test('[webgpu, cpu] falls back to cpu, says why, and takes the CPU plan and batch size', async () => {
    const reference = await withEngine({ threads: 2 }, probsOf);
    await withEngine({ providers: ['webgpu', 'cpu'], threads: 2 }, async (engine) => {
      expect(engine.status).toMatchObject({ provider: 'cpu', workers: 2, preprocessors: 0, batchSize: 4 });
      expect(engine.status.fallbacks).toEqual([{ provider: 'webgpu', reason: expect.stringMatching(webgpuHint) }]);
      expect(await probsOf(engine)).toEqual(reference);
    });
  });

  test('webgpu alone fails with PROVIDER_UNAVAILABLE naming the provider and what to install', async () => {
    const err = await InferenceEngine.start(contract, { ...base, providers: ['webgpu'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IchError);
    expect(err).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: expect.stringMatching(/^no execution provider of \[webgpu\] could start \(webgpu: .*No supported adapters/) });
    expect((err as IchError).message).toMatch(webgpuHint);
    expect((err as IchError).describe()).toMatch(/Install its libraries or list a fallback in model\.executionProvider/);
  });

  test('cuda without its libraries: the documented error, or cpu when fallbackToCpu says so', async () => {
    const err = await InferenceEngine.start(contract, { ...base, providers: providerList({ executionProvider: 'cuda', fallbackToCpu: false }) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: expect.stringMatching(/^no execution provider of \[cuda\] could start \(cuda: .*Failed to load shared library/) });
    expect((err as IchError).message).toMatch(cudaHint);

    const providers = providerList({ executionProvider: 'cuda', fallbackToCpu: true });
    expect(providers).toEqual(['cuda', 'cpu']);
    await withEngine({ providers, deviceId: 1 }, async (engine) => {
      expect(engine.status.provider).toBe('cpu');
      expect(engine.status.fallbacks).toEqual([{ provider: 'cuda', reason: expect.stringMatching(cudaHint) }]);
      expect((await probsOf(engine)).every((p) => p.length === 6)).toBe(true);
    });
  });

  test('[cuda, webgpu, cpu] records each fallback in order', async () => {
    await withEngine({ providers: ['cuda', 'webgpu', 'cpu'] }, async (engine) => {
      expect(engine.status.provider).toBe('cpu');
      expect(engine.status.fallbacks.map((f) => f.provider)).toEqual(['cuda', 'webgpu']);
    });
  });

  test('a configured batch size holds on the provider that started', async () => {
    await withEngine({ providers: ['cuda', 'cpu'], batchSize: 7 }, async (engine) => expect(engine.status.batchSize).toBe(7));
  });
});

describe('preprocess workers (the GPU layout, run here on cpu)', () => {
  test('chosen per provider: none on cpu, the other cores up to 8 on a GPU, or as configured', () => {
    expect(preprocessWorkers('cpu', 0, 16)).toBe(0);
    expect(preprocessWorkers('webgpu', 0, 16)).toBe(8);
    expect(preprocessWorkers('cuda', 0, 4)).toBe(3);
    expect(preprocessWorkers('webgpu', 0, 1)).toBe(1);
    expect(preprocessWorkers('cpu', 2, 16)).toBe(2);
  });

  test('preprocessed batches give the same probabilities and tensors as a worker that does both', async () => {
    const direct = await withEngine({}, (e) => e.classify(files.map((f) => ({ key: f, path: f })), { wantTensors: true }));
    await withEngine({ preprocessWorkers: 2 }, async (engine) => {
      expect(engine.status).toMatchObject({ workers: 1, preprocessors: 2 });
      expect(engine.freeSlots).toBe(2);
      const junk = path.join(dir, 'junk.dcm');
      writeFileSync(junk, 'not dicom');
      const batches = [files.slice(0, 4), [junk, ...files.slice(4)], files.slice(0, 2)];
      const results = await Promise.all(batches.map((b) => engine.classify(b.map((f) => ({ key: f, path: f })), { wantTensors: true })));
      const byKey = new Map(direct.items.map((i) => [i.key, i]));
      for (const item of results.flatMap((r) => r.items)) {
        if (item.key === junk) {
          expect(item.error).toMatch(/DICM|Part 10|not a DICOM/i);
          expect(item.probs).toBeUndefined();
          continue;
        }
        expect(item.probs).toEqual(byKey.get(item.key)!.probs);
        expect(item.tensor).toEqual(byKey.get(item.key)!.tensor);
      }
      expect(results.every((r) => r.inferenceMs > 0)).toBe(true);
      const plain = await engine.classify([{ key: 'a', path: files[0]! }]);
      expect(plain.items[0]!.tensor).toBeUndefined();
      expect(engine.alive).toBe(true);
    });
  });
});

describe('provider options and error texts', () => {
  test('only cuda gets a device index; the WebGPU binding refuses one', () => {
    expect(providerOption('cuda', 2)).toEqual({ name: 'cuda', deviceId: 2 });
    expect(providerOption('webgpu', 0)).toBe('webgpu');
    expect(providerOption('cpu', 0)).toBe('cpu');
  });

  test("onnxruntime's source location is cut and the install hint added", () => {
    const raw =
      '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 onnxruntime::webgpu::WebGpuContext::Initialize(const onnxruntime::webgpu::WebGpuContextConfig&)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters\n';
    expect(providerFailureReason('webgpu', raw)).toMatch(/^Failed to get a WebGPU adapter: No supported adapters \(webgpu needs/);
    expect(providerFailureReason('cpu', 'out of memory\nstack')).toBe('out of memory');
  });
});

describe('config validation', () => {
  const file = path.join(dir, 'ich-triage.yaml');
  function rejects(model: string, key: string, reason: RegExp): void {
    let err: unknown;
    try {
      parseConfig(`model:\n  path: m.onnx\n${model}`, file);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    expect((err as IchError).message).toContain(`key "${key}"`);
    expect((err as IchError).message).toMatch(reason);
  }

  test('an unknown provider is refused, naming the key and the known ones', () => {
    rejects('  executionProvider: tensorrt\n', 'model.executionProvider', /expected cpu, webgpu, cuda .*got "tensorrt"/);
    rejects('  executionProvider: [cuda, rocm, cpu]\n', 'model.executionProvider', /cpu, webgpu, cuda or a non-empty list of them, got \["cuda","rocm","cpu"\]/);
    rejects('  executionProvider: []\n', 'model.executionProvider', /\S/);
  });

  test('batchSize, deviceId and preprocessWorkers out of range are refused', () => {
    rejects('  batchSize: -1\n', 'model.batchSize', /\S/);
    rejects('  batchSize: 1025\n', 'model.batchSize', /1024/);
    rejects('  batchSize: 2.5\n', 'model.batchSize', /int/i);
    rejects('  deviceId: -1\n', 'model.deviceId', /\S/);
    rejects('  deviceId: 64\n', 'model.deviceId', /63/);
    rejects('  preprocessWorkers: 65\n', 'model.preprocessWorkers', /64/);
  });

  test('settings the node would ignore are refused', () => {
    rejects('  executionProvider: [cuda, webgpu]\n  deviceId: 1\n', 'model.deviceId', /webgpu cannot pick a GPU by index/);
    rejects('  executionProvider: [cuda, webgpu]\n  fallbackToCpu: true\n', 'model.fallbackToCpu', /add cpu to executionProvider/);
  });

  test('accepted: a list, a cuda device index, per-provider defaults', () => {
    const c = parseConfig('model:\n  path: m.onnx\n  executionProvider: [cuda, cpu]\n  deviceId: 1\n  batchSize: 64\n', file);
    expect(c.model).toMatchObject({ executionProvider: ['cuda', 'cpu'], deviceId: 1, batchSize: 64, preprocessWorkers: 0, fallbackToCpu: false });
    expect(parseConfig('model:\n  path: m.onnx\n  executionProvider: webgpu\n  fallbackToCpu: true\n', file).model.batchSize).toBe(0);
  });
});
