import { describe, expect, it, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadModelContract, effectiveThresholds, isDemonstration } from '../src/inference/contract.js';
import { readOnnxMetadata } from '../src/inference/onnxMetadata.js';
import { providerList } from '../src/inference/providers.js';
import { workerPlan, defaultBatchSize } from '../src/inference/engine.js';
import { IchError } from '../src/errors.js';

const tinyModel = path.resolve('test/fixtures/models/tiny-ich.onnx');
const dir = mkdtempSync(path.join(tmpdir(), 'ich-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A ModelProto holding only ir_version and metadata_props: enough for the contract reader. */
function fakeModel(props: Record<string, unknown>): string {
  const varint = (n: number) => {
    const out: number[] = [];
    while (n > 127) {
      out.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return Buffer.from(out);
  };
  const bytesField = (field: number, payload: Buffer) => Buffer.concat([varint(field * 8 + 2), varint(payload.length), payload]);
  const parts = [Buffer.from([0x08, 0x08])];
  for (const [k, v] of Object.entries(props)) {
    const entry = Buffer.concat([bytesField(1, Buffer.from(k)), bytesField(2, Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)))]);
    parts.push(bytesField(14, entry));
  }
  const file = path.join(dir, `m${Math.random().toString(36).slice(2)}.onnx`);
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

const good = readOnnxMetadata(readFileSync(tinyModel));
const goodProps = Object.fromEntries(good);

describe('model contract', () => {
  it('reads the tiny test model: classes, windows, input, thresholds, sha256', () => {
    const c = loadModelContract(tinyModel);
    expect(c.classes).toEqual(['any', 'epidural', 'intraparenchymal', 'intraventricular', 'subarachnoid', 'subdural']);
    expect(c.input.windows.map((w) => w.name)).toEqual(['brain', 'subdural', 'bone']);
    expect(c.input.name).toBe('input');
    expect(c.outputName).toBe('probs');
    expect(c.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(c.info.demo).toBe(true);
    expect(Object.keys(c.thresholds)).toEqual(c.classes);
  });

  it.each(['ich.classes', 'ich.windows', 'ich.input', 'ich.output', 'ich.thresholds', 'ich.model'])('names a missing %s', (key) => {
    const props = { ...goodProps };
    delete props[key];
    const file = fakeModel(props);
    expect(() => loadModelContract(file)).toThrow(new RegExp(`metadata_props has no "${key.replace('.', '\\.')}"`));
  });

  it('names the wrong field inside a key', () => {
    const file = fakeModel({ ...goodProps, 'ich.input': { name: 'input', layout: 'NHWC', size: 224, resize: 'bilinear' } });
    expect(() => loadModelContract(file)).toThrow(/"ich\.input" at layout/);
    const noThreshold = fakeModel({ ...goodProps, 'ich.thresholds': { any: 0.5 } });
    expect(() => loadModelContract(noThreshold)).toThrow(/no threshold for epidural/);
  });

  it('reports a missing file and a file that is not ONNX with their codes', () => {
    expect(() => loadModelContract(path.join(dir, 'nope.onnx'))).toThrow(expect.objectContaining({ code: 'MODEL_NOT_FOUND' }));
    const junk = path.join(dir, 'junk.onnx');
    writeFileSync(junk, Buffer.from([0xff, 0xff, 0xff]));
    expect(() => loadModelContract(junk)).toThrow(IchError);
  });

  it('applies config threshold overrides and rejects unknown classes', () => {
    const c = loadModelContract(tinyModel);
    expect(effectiveThresholds(c, { any: 0.3 }, 'cfg.yaml')['any']).toBe(0.3);
    expect(effectiveThresholds(c, { any: 0.3 }, 'cfg.yaml')['subdural']).toBe(c.thresholds['subdural']);
    expect(() => effectiveThresholds(c, { bleed: 0.3 }, 'cfg.yaml')).toThrow(/cfg\.yaml: key "model\.thresholds\.bleed": the model has no class "bleed"/);
  });

  it('recognises demonstration wording', () => {
    expect(isDemonstration('demonstration only, not for clinical use')).toBe(true);
    expect(isDemonstration('triage of non-contrast head CT')).toBe(false);
  });
});

describe('providers', () => {
  it('falls back to CPU only when asked', () => {
    expect(providerList({ executionProvider: 'cuda', fallbackToCpu: false })).toEqual(['cuda']);
    expect(providerList({ executionProvider: 'cuda', fallbackToCpu: true })).toEqual(['cuda', 'cpu']);
    expect(providerList({ executionProvider: ['cuda', 'webgpu', 'cpu'], fallbackToCpu: false })).toEqual(['cuda', 'webgpu', 'cpu']);
  });
  it('plans one single-threaded worker per core on CPU, one worker on GPUs', () => {
    expect(workerPlan(['cpu'], 2)).toEqual({ workers: 2, intraOpThreads: 1 });
    expect(workerPlan(['cpu'], 16)).toEqual({ workers: 4, intraOpThreads: 4 });
    expect(workerPlan(['webgpu', 'cpu'], 8)).toEqual({ workers: 1, intraOpThreads: 8 });
    expect(defaultBatchSize('cpu')).toBe(4);
    expect(defaultBatchSize('webgpu')).toBe(32);
  });
});
