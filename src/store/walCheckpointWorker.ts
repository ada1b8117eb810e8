/**
 * Checkpoints one database's write-ahead log on its own connection, every `intervalMs`, until
 * told to stop (see WalCheckpointer). Reports only failures, and the first success after one.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { errorMessage } from '../errors.js';
import type { CheckpointerSetup, CheckpointerMessage } from './walCheckpointer.js';

const { file, intervalMs, restartAboveBytes } = workerData as CheckpointerSetup;
const port = parentPort!;
const db = new Database(file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
const restartAbovePages = Math.ceil(restartAboveBytes / (db.pragma('page_size', { simple: true }) as number));
let failing = false;

/** Runs a checkpoint; returns the number of frames in the WAL (SQLite's `log` column). */
function run(mode: 'PASSIVE' | 'RESTART'): number {
  return (db.pragma(`wal_checkpoint(${mode})`) as { log: number }[])[0]!.log;
}

function checkpoint(): void {
  try {
    // PASSIVE: copies what no reader still needs, without waiting for or blocking the writer.
    // SQLite rewinds the WAL only when a commit starts after everything in it was copied; while
    // commits never pause (4,800 small slices over 4 associations grew it to 206 MB), one always
    // lands during the copy and the file grows without end. Past the limit two more passes copy
    // what came in during the one before, then RESTART holds commits off only while it copies
    // the last frames, and the next commit writes the WAL from its start again.
    if (run('PASSIVE') > restartAbovePages) {
      run('PASSIVE');
      run('PASSIVE');
      run('RESTART');
    }
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
