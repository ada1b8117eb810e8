/**
 * An inference worker: decodes, preprocesses and classifies batches of slices off the main
 * thread (session.run is synchronous inside onnxruntime-node). One ONNX session per worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { initPixelDecoders } from '../dicom/pixels.js';
import { fileToTensor } from '../imaging/tensor.js';
import { errorMessage } from '../errors.js';
import type { BatchFailure, BatchRequest, BatchResponse, ItemResult, ProviderAttempt, WorkerReady, WorkerSetup } from './protocol.js';

const setup = workerData as WorkerSetup;
// Provider failures are caught and reported by the engine; onnxruntime's own console lines would only repeat them.
ort.env.logLevel = 'fatal';
const port = parentPort!;

async function openSession(): Promise<{ session: ort.InferenceSession; ready: WorkerReady }> {
  const attempts: ProviderAttempt[] = [];
  const started = performance.now();
  for (const provider of setup.providers) {
    try {
      const session = await ort.InferenceSession.create(setup.modelPath, {
        executionProviders: [providerOption(provider)],
        intraOpNumThreads: setup.intraOpThreads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
      });
      const sessionMs = performance.now() - started;
      return { session, ready: { type: 'ready', provider, fallbacks: attempts, sessionMs } };
    } catch (err) {
      attempts.push({ provider, reason: errorMessage(err).split('\n')[0]!.slice(0, 300) });
    }
  }
  throw attempts;
}

function providerOption(provider: WorkerSetup['providers'][number]): string | { name: string; deviceId: number } {
  return provider === 'cpu' ? 'cpu' : { name: provider, deviceId: setup.deviceId };
}

async function main(): Promise<void> {
  await initPixelDecoders();
  let session: ort.InferenceSession;
  try {
    const opened = await openSession();
    session = opened.session;
    port.postMessage(opened.ready);
  } catch (attempts) {
    port.postMessage({ type: 'failed', attempts: attempts as ProviderAttempt[] } satisfies WorkerReady);
    return;
  }
  const { size, windows } = setup.input;
  const sliceLength = windows.length * size * size;

  port.on('message', (request: BatchRequest) => {
    respond(request).then(
      ([response, transfer]) => port.postMessage(response, transfer),
      (err: unknown) => port.postMessage({ type: 'error', id: request.id, message: errorMessage(err) } satisfies BatchFailure),
    );
  });

  async function respond(request: BatchRequest): Promise<[BatchResponse, ArrayBuffer[]]> {
    const items: ItemResult[] = [];
    const tensors: Float32Array[] = [];
    for (const item of request.items) {
      const t0 = performance.now();
      try {
        const tensor = await fileToTensor(readFileSync(item.path), setup.input);
        tensors.push(tensor);
        items.push({ key: item.key, preprocessMs: performance.now() - t0 });
      } catch (err) {
        items.push({ key: item.key, error: errorMessage(err), preprocessMs: performance.now() - t0 });
      }
    }
    let inferenceMs = 0;
    if (tensors.length > 0) {
      const batch = new Float32Array(tensors.length * sliceLength);
      tensors.forEach((t, i) => batch.set(t, i * sliceLength));
      const t0 = performance.now();
      const shape = [tensors.length, windows.length, size, size];
      const out = await session.run({ [setup.input.name]: new ort.Tensor('float32', batch, shape) });
      const output = out[setup.outputName]!.data as Float32Array;
      inferenceMs = performance.now() - t0;
      let next = 0;
      for (const item of items) {
        if (item.error !== undefined) continue;
        const i = next++;
        item.probs = Array.from(output.subarray(i * setup.classCount, (i + 1) * setup.classCount));
        if (request.wantTensors) item.tensor = tensors[i];
      }
    }
    const transfer = request.wantTensors ? items.flatMap((i) => (i.tensor ? [i.tensor.buffer as ArrayBuffer] : [])) : [];
    return [{ type: 'result', id: request.id, items, inferenceMs }, transfer];
  }
}

void main();
