import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import { workerScript } from '../util/workerScript.js';
import type { Db } from './db.js';

export interface CheckpointerSetup {
  file: string;
  intervalMs: number;
  /** A WAL larger than this is rewound to its start (see walCheckpointWorker). */
  restartAboveBytes: number;
}

export type CheckpointerMessage = { type: 'ready' } | { type: 'failed'; message: string } | { type: 'recovered' };

/**
 * Checkpoints the node's write-ahead log from a worker thread. SQLite's automatic checkpoint
 * runs inside the commit that takes the WAL past 1000 pages, on the committing thread, the main
 * one, and fsyncs the database file: 8-11 ms on a quiet disk here (1.4 ms at most without it),
 * more while spool files are being written, a stall for every association and stage. The node's
 * connection turns it off and the worker's own connection
 * checkpoints every `intervalMs` without blocking the writer, and rewinds a WAL that has grown
 * past `restartAboveBytes` under commits that never pause. Should the worker fail, the
 * connection checkpoints itself again, as before.
 */
export class WalCheckpointer {
  private stopping = false;
  private exited = false;

  private constructor(
    private readonly worker: Worker,
    private readonly db: Db,
    /** The connection's own wal_autocheckpoint (pages), given back when the worker is gone. */
    private readonly autoCheckpointPages: number,
    private readonly log: Logger,
  ) {
    worker.on('message', (m: CheckpointerMessage) => {
      if (m.type === 'failed') log.error({ reason: m.message }, 'WAL checkpoint failed; retrying');
      else if (m.type === 'recovered') log.info('WAL checkpoint works again');
    });
    worker.on('error', (err) => this.fallBack(err.message));
    worker.on('exit', (code) => {
      this.exited = true;
      this.fallBack(`exited with code ${code}`);
    });
  }

  /** `db` is the node's connection to `file`; resolves once the worker's connection is open. */
  static async start(db: Db, file: string, log: Logger, intervalMs = 1000, restartAboveBytes = 256 * 1024 * 1024): Promise<WalCheckpointer> {
    const workerData: CheckpointerSetup = { file, intervalMs, restartAboveBytes };
    const worker = new Worker(workerScript(import.meta.url, 'walCheckpointWorker'), { workerData });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    const pages = db.pragma('wal_autocheckpoint', { simple: true }) as number;
    db.pragma('wal_autocheckpoint = 0');
    return new WalCheckpointer(worker, db, pages, log);
  }

  /** A last checkpoint, then the worker ends (before the node's connection closes). */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (!this.exited) {
      const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      this.worker.postMessage('stop');
      await exited;
    }
    this.restoreAutoCheckpoint();
  }

  private fallBack(reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    this.log.error({ reason }, 'WAL checkpoint worker ended; the database connection checkpoints itself again');
    this.restoreAutoCheckpoint();
  }

  private restoreAutoCheckpoint(): void {
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${this.autoCheckpointPages}`);
  }
}
