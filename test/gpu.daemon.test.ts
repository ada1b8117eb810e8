import { afterAll, afterEach, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startDaemon, mainJs, tinyModel, type TestDaemon } from './helpers/daemon.js';
import { storescu } from './helpers/dcmtk.js';
import { syntheticSeries, writeSlices } from './helpers/synthetic.js';

// The real node asked for GPU providers this host lacks: how the fallback shows in the log,
// /healthz, /status, `ich-triage status` (text and JSON) and the metrics, and what `serve` and
// `classify` say when no provider can start.

const run = promisify(execFile);
const dir = mkdtempSync(path.join(tmpdir(), 'ich-gpu-daemon-'));
const files = writeSlices(path.join(dir, 'series'), syntheticSeries({ slices: 4 }));
const daemons: TestDaemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.cleanup()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cudaReason = /^OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library \(cuda needs .*ONNXRUNTIME_NODE_INSTALL=cuda12.*docs\/gpu\.md\)$/;

test('a node started with [cuda, cpu] runs on cpu and shows why everywhere', async () => {
  const d = await startDaemon({ config: { model: { executionProvider: ['cuda', 'cpu'] } } });
  daemons.push(d);

  const warn = await d.waitForLog((l) => l.msg === 'execution provider unavailable, falling back');
  expect(warn).toMatchObject({ level: 'warn', provider: 'cuda', reason: expect.stringMatching(cudaReason) });
  const loaded = await d.waitForLog((l) => l.msg === 'model loaded');
  expect(loaded).toMatchObject({ provider: 'cpu', workers: 1, preprocessors: 0, batchSize: 4 });

  const health = await fetch(`http://127.0.0.1:${d.httpPort}/healthz`);
  expect(health.status).toBe(200);
  const checks = ((await health.json()) as { checks: { model: unknown } }).checks;
  expect(checks.model).toMatchObject({ ok: true, provider: 'cpu', fallbacks: [{ provider: 'cuda', reason: expect.stringMatching(cudaReason) }] });

  const status = JSON.parse((await run(process.execPath, [mainJs, 'status', '--json', '--config', d.configFile])).stdout);
  expect(status.node.model).toMatchObject({ provider: 'cpu', fallbacks: [{ provider: 'cuda', reason: expect.stringMatching(cudaReason) }] });
  const text = (await run(process.execPath, [mainJs, 'status', '--config', d.configFile])).stdout;
  expect(text).toMatch(/^node: up \d+ s, 0 association\(s\), model tiny-ich 0\.1\.0 on cpu/m);
  expect(text).toMatch(/^ {2}provider cuda unavailable, fell back: OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library \(cuda needs /m);

  const metrics = await (await fetch(`http://127.0.0.1:${d.httpPort}/metrics`)).text();
  expect(metrics).toMatch(/^ich_triage_model_info\{name="tiny-ich",version="0\.1\.0",sha256="[0-9a-f]{64}",provider="cpu",fallbacks="cuda"\} 1$/m);

  // And it classifies on the provider it fell back to.
  await storescu({ port: d.port }, files);
  const classified = d.openDb().prepare('SELECT count(*) FROM slice_results').pluck();
  const deadline = Date.now() + 20_000;
  while ((classified.get() as number) < files.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(classified.get()).toBe(files.length);
});

test('serve with webgpu alone and no adapter exits 1 with the documented error', async () => {
  const err = await startDaemon({ config: { model: { executionProvider: 'webgpu' } } }).then(
    (d) => {
      daemons.push(d);
      throw new Error('the node started');
    },
    (e: Error) => e,
  );
  expect(err.message).toMatch(/^node exited \(1\) before it was ready/);
  expect(err.message).toMatch(/PROVIDER_UNAVAILABLE: no execution provider of \[webgpu\] could start \(webgpu: .*No supported adapters \(webgpu needs the Vulkan loader/);
  expect(err.message).toMatch(/Install its libraries or list a fallback in model\.executionProvider/);
});

test('classify notes the fallback on stderr, and fails naming the provider without one', async () => {
  const config = (provider: unknown) => {
    const file = path.join(dir, `${JSON.stringify(provider).replace(/\W/g, '')}.yaml`);
    writeFileSync(file, JSON.stringify({ model: { path: tinyModel, executionProvider: provider, threads: 1 } }));
    return file;
  };
  const ok = await run(process.execPath, [mainJs, 'classify', '--json', '--config', config(['webgpu', 'cpu']), ...files]);
  expect(ok.stderr).toMatch(/^note: provider webgpu unavailable \(Failed to get a WebGPU adapter: No supported adapters \(webgpu needs .*\)\); using cpu$/m);
  expect(JSON.parse(ok.stdout).slices).toHaveLength(4);

  const failed = await run(process.execPath, [mainJs, 'classify', '--config', config('cuda'), ...files]).then(
    () => {
      throw new Error('classify succeeded');
    },
    (e: { code: number; stderr: string }) => e,
  );
  expect(failed.code).toBe(1);
  expect(failed.stderr).toMatch(/^PROVIDER_UNAVAILABLE: no execution provider of \[cuda\] could start \(cuda: .*cuda needs libonnxruntime_providers_cuda\.so/m);
});
