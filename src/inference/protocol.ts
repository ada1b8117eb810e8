/** Messages between the main thread and an inference worker. */
import type { ProviderName } from '../config/schema.js';
import type { InputSpec } from '../imaging/types.js';
import type { ThreadPriority } from '../util/threadPriority.js';

export interface WorkerSetup {
  /**
   * 'session': holds an ONNX session and runs batches (preprocessing them itself unless they
   * come prepared); 'preprocess': only decodes and preprocesses, to feed a GPU session.
   */
  role: 'session' | 'preprocess';
  modelPath: string;
  /** Tried in order; the first that starts is used. */
  providers: ProviderName[];
  intraOpThreads: number;
  /** Slices per session.run as configured; 0: the provider's default. */
  batchSize: number;
  priority: ThreadPriority;
  deviceId: number;
  input: InputSpec & { name: string };
  outputName: string;
  classCount: number;
  /** Part 10 files preprocessed a few times before the worker says it is ready (see warmUpSlices). */
  warmUpFiles: Uint8Array[];
}

export interface ProviderAttempt {
  provider: ProviderName;
  reason: string;
}

export type WorkerReady =
  /** `priority`: the scheduling priority the worker's threads got (setThreadPriority). */
  | { type: 'ready'; provider: ProviderName; fallbacks: ProviderAttempt[]; sessionMs: number; priority: ThreadPriority }
  | { type: 'failed'; attempts: ProviderAttempt[] }
  | { type: 'preprocessing' };

export interface BatchItem {
  /** Caller's identifier, echoed back (the SOP Instance UID or a file path). */
  key: string;
  path: string;
}

export interface BatchRequest {
  type: 'batch';
  id: number;
  items: BatchItem[];
  /** Return each slice's model input, for --dump-tensor. */
  wantTensors: boolean;
  /** The items already preprocessed by a 'preprocess' worker, in the same order. */
  prepared?: ItemResult[];
}

/** To a 'preprocess' worker: decode and preprocess these files. */
export interface PreprocessRequest {
  type: 'preprocess';
  id: number;
  items: BatchItem[];
}

/** Each item with its tensor, or its error. */
export interface PreprocessResponse {
  type: 'prepared';
  id: number;
  items: ItemResult[];
}

export interface ItemResult {
  key: string;
  /** One probability per class, in the model's order. */
  probs?: number[];
  /** Why the slice could not be classified (decode errors and the like). */
  error?: string;
  preprocessMs: number;
  /** The model input [C, size, size], when asked for. */
  tensor?: Float32Array;
}

export interface BatchResponse {
  type: 'result';
  id: number;
  items: ItemResult[];
  /** Wall time of session.run for the whole batch. */
  inferenceMs: number;
}

export interface BatchFailure {
  type: 'error';
  id: number;
  message: string;
}
