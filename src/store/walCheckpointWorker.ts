/**
 * Checkpoints one database's write-ahead log on its own connection, every `intervalMs`, until
 * told to stop (see WalCheckpointer). Reports only failures, and the first success after one.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { errorMessage } from '../errors.js';
import type { CheckpointerSetup, CheckpointerMessage } from './walCheckpointer.js';

const { file, intervalMs } = workerData as CheckpointerSetup;
const port = parentPort!;
const db = new Database(file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
let failing = false;

function checkpoint(): void {
  try {
    // PASSIVE: copies what no reader still needs, without waiting for or blocking the writer.
    db.pragma('wal_checkpoint(PASSIVE)');
    if (failing) port.postMessage({ type: 'recovered' } satisfies CheckpointerMessage);
    failing = false;
  } catch (err) {
    if (!failing) port.postMessage({ type: 'failed', message: errorMessage(err) } satisfies CheckpointerMessage);
    failing = true;
  }
}

const timer = setInterval(checkpoint, intervalMs);
port.on('message', (message: 'stop') => {
  if (message !== 'stop') return;
  clearInterval(timer);
  checkpoint();
  db.close();
  port.close();
});
port.postMessage({ type: 'ready' } satisfies CheckpointerMessage);
