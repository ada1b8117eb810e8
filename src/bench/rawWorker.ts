import { parentPort, workerData } from 'node:worker_threads';
import { rawThroughput, type RawOptions } from './classify.js';

/** One session of rawThroughputOfPlan, in its own thread: posts its slices/s. */
parentPort!.postMessage(await rawThroughput(workerData as RawOptions));
