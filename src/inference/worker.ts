/**
 * An inference worker: decodes, preprocesses and classifies batches of slices off the main
 * thread (session.run is synchronous inside onnxruntime-node). A 'session' worker holds one ONNX
 * session; a 'preprocess' worker only turns files into tensors for a GPU session, whose one
 * worker could not decode fast enough on its own.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
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

const sliceLength = setup.input.windows.length * setup.input.size * setup.input.size;

/**
 * Each file as a model input, or the reason it cannot be one. With `batch`, the inputs are
 * written into it one after the other (the failed ones leave no gap) and each item's tensor is
 * its slot there; else each gets its own array.
 */
async function prepare(items: BatchItem[], batch?: Float32Array): Promise<ItemResult[]> {
  const out: ItemResult[] = [];
  let next = 0;
  for (const item of items) {
    const t0 = performance.now();
    try {
      const slot = batch?.subarray(next * sliceLength, (next + 1) * sliceLength);
      const tensor = await fileToTensor(readSpoolFile(item.path), setup.input, slot);
      next++;
      out.push({ key: item.key, preprocessMs: performance.now() - t0, tensor });
    } catch (err) {
      out.push({ key: item.key, error: errorMessage(err), preprocessMs: performance.now() - t0 });
    }
  }
  return out;
}

/** Files up to this size are read into the reused buffer; a larger one gets its own. */
const reusedReadBytes = 8 * 1024 * 1024;
let readBuffer = Buffer.alloc(0);

/**
 * The file's bytes in one buffer reused from slice to slice, valid until the next call: a
 * 512x512 slice is ~0.5 MB that readFileSync allocated anew each time, fresh pages for the
 * kernel to zero and map and external memory that drives V8's collections, while the model
 * ran on the other cores.
 */
function readSpoolFile(file: string): Buffer {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > reusedReadBytes) return readFileSync(fd);
    if (readBuffer.length < size) readBuffer = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, readBuffer, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return readBuffer.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

/** The session's input, reused from batch to batch (session.run has ended when the next one is prepared). */
let batchBuffer = new Float32Array(0);
function batchInput(slices: number): Float32Array {
  if (batchBuffer.length < slices * sliceLength) batchBuffer = new Float32Array(slices * sliceLength);
  return batchBuffer;
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

  serve<BatchRequest>(async (request) => {
    const batch = batchInput((request.prepared ?? request.items).length);
    const items = request.prepared ?? (await prepare(request.items, batch));
    let count = 0;
    for (const item of items) {
      if (!item.tensor) continue;
      // Tensors made by a preprocess worker come in their own arrays.
      if (request.prepared) batch.set(item.tensor, count * sliceLength);
      count++;
    }
    let inferenceMs = 0;
    if (count > 0) {
      const t0 = performance.now();
      const shape = [count, windows.length, size, size];
      const out = await session.run({ [setup.input.name]: new ort.Tensor('float32', batch.subarray(0, count * sliceLength), shape) });
      const output = out[setup.outputName]!.data as Float32Array;
      inferenceMs = performance.now() - t0;
      let next = 0;
      for (const item of items) {
        if (!item.tensor) continue;
        const i = next++;
        item.probs = Array.from(output.subarray(i * setup.classCount, (i + 1) * setup.classCount));
      }
    }
    // A slot of the reused batch input goes back as a copy of its own.
    for (const item of items) {
      if (!request.wantTensors) delete item.tensor;
      else if (item.tensor && !request.prepared) item.tensor = item.tensor.slice();
    }
    return [{ type: 'result', id: request.id, items, inferenceMs } satisfies BatchResponse, tensorBuffers(items)];
  });
}

void main();
