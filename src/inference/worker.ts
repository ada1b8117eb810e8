/**
 * An inference worker: decodes, preprocesses and classifies batches of slices off the main
 * thread (session.run is synchronous inside onnxruntime-node). A 'session' worker holds one ONNX
 * session; a 'preprocess' worker only turns files into tensors for a GPU session, whose one
 * worker could not decode fast enough on its own.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { initPixelDecoders } from '../dicom/pixels.js';
import { setThreadPriority } from '../util/threadPriority.js';
import { fileToTensor } from '../imaging/tensor.js';
import { errorMessage } from '../errors.js';
import { providerFailureReason, providerOption } from './providers.js';
import { defaultBatchSize } from './engine.js';
import type {
  BatchFailure,
  BatchItem,
  BatchRequest,
  BatchResponse,
  ItemResult,
  PreprocessRequest,
  PreprocessResponse,
  ProviderAttempt,
  WorkerReady,
  WorkerSetup,
} from './protocol.js';

const setup = workerData as WorkerSetup;
// Provider failures are caught and reported by the engine; onnxruntime's own console lines would only repeat them.
ort.env.logLevel = 'fatal';
// Inference yields to the main thread: accepting and acknowledging studies comes first.
const priority = setThreadPriority(setup.priority);
const port = parentPort!;

async function openSession(): Promise<{ session: ort.InferenceSession; ready: WorkerReady }> {
  const attempts: ProviderAttempt[] = [];
  const started = performance.now();
  for (const provider of setup.providers) {
    try {
      const session = await ort.InferenceSession.create(setup.modelPath, {
        executionProviders: [providerOption(provider, setup.deviceId)],
        intraOpNumThreads: setup.intraOpThreads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
      });
      await warmUp(session, provider).catch(async (err: unknown) => {
        await session.release();
        throw err;
      });
      const sessionMs = performance.now() - started;
      return { session, ready: { type: 'ready', provider, fallbacks: attempts, sessionMs, priority } };
    } catch (err) {
      attempts.push({ provider, reason: providerFailureReason(provider, errorMessage(err)) });
    }
  }
  throw attempts;
}

/**
 * One full batch of zeros before the worker says it is ready. The first session.run allocates
 * its buffers and picks kernels (tens of milliseconds on a CPU, seconds on some GPUs): without
 * this the first study after a start waits for it. A provider that opens a session but cannot
 * run it (or a model whose batch size is fixed) fails here, at start, with the reason.
 */
async function warmUp(session: ort.InferenceSession, provider: WorkerSetup['providers'][number]): Promise<void> {
  const batch = setup.batchSize > 0 ? setup.batchSize : defaultBatchSize(provider);
  const { size, windows } = setup.input;
  const zeros = new Float32Array(batch * windows.length * size * size);
  try {
    await session.run({ [setup.input.name]: new ort.Tensor('float32', zeros, [batch, windows.length, size, size]) });
  } catch (err) {
    throw new Error(`a warm-up run of ${batch} slices failed: ${errorMessage(err)}`, { cause: err });
  }
}

/** Each file as a model input, or the reason it cannot be one. */
async function prepare(items: BatchItem[]): Promise<ItemResult[]> {
  const out: ItemResult[] = [];
  for (const item of items) {
    const t0 = performance.now();
    try {
      const tensor = await fileToTensor(readFileSync(item.path), setup.input);
      out.push({ key: item.key, preprocessMs: performance.now() - t0, tensor });
    } catch (err) {
      out.push({ key: item.key, error: errorMessage(err), preprocessMs: performance.now() - t0 });
    }
  }
  return out;
}

function tensorBuffers(items: ItemResult[]): ArrayBuffer[] {
  return items.flatMap((i) => (i.tensor ? [i.tensor.buffer as ArrayBuffer] : []));
}

/**
 * Replies to each request in turn, one at a time in the order they came (the engine sends the
 * next batch before this one ends); a thrown error fails only that request.
 */
function serve<R extends { id: number }>(handle: (request: R) => Promise<[unknown, ArrayBuffer[]]>): void {
  let previous = Promise.resolve();
  port.on('message', (request: R) => {
    previous = previous.then(async () => {
      try {
        const [response, transfer] = await handle(request);
        port.postMessage(response, transfer);
      } catch (err) {
        port.postMessage({ type: 'error', id: request.id, message: errorMessage(err) } satisfies BatchFailure);
      }
    });
  });
}

/**
 * Preprocesses the setup's phantom slices a few times, so that the first study's slices run
 * optimized code (see warmUpSlices); 10 rounds take ~50 ms.
 */
async function warmUpPreprocessing(): Promise<void> {
  for (let round = 0; round < 10; round++) {
    for (const file of setup.warmUpFiles) await fileToTensor(Buffer.from(file.buffer, file.byteOffset, file.byteLength), setup.input);
  }
}

async function main(): Promise<void> {
  await initPixelDecoders();
  await warmUpPreprocessing();
  if (setup.role === 'preprocess') {
    port.postMessage({ type: 'preprocessing' } satisfies WorkerReady);
    serve<PreprocessRequest>(async (request) => {
      const items = await prepare(request.items);
      return [{ type: 'prepared', id: request.id, items } satisfies PreprocessResponse, tensorBuffers(items)];
    });
    return;
  }
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

  serve<BatchRequest>(async (request) => {
    const items = request.prepared ?? (await prepare(request.items));
    const tensors = items.flatMap((i) => (i.tensor ? [i.tensor] : []));
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
        if (!item.tensor) continue;
        const i = next++;
        item.probs = Array.from(output.subarray(i * setup.classCount, (i + 1) * setup.classCount));
      }
    }
    if (!request.wantTensors) for (const item of items) delete item.tensor;
    return [{ type: 'result', id: request.id, items, inferenceMs } satisfies BatchResponse, tensorBuffers(items)];
  });
}

void main();
