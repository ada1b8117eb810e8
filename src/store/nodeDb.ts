import { mkdirSync } from 'node:fs';
import type { Logger } from '../log.js';
import { dbPath, migrate, openDb, type Db } from './db.js';
import { WalCheckpointer } from './walCheckpointer.js';

export interface NodeDb {
  db: Db;
  /** Stops the WAL checkpointer, then closes the database. */
  close(): Promise<void>;
}

/**
 * The node's database in `dataDir` (made owner-only when missing): migrated, with its WAL
 * checkpointed by a worker thread, or by the connection itself when the worker cannot start.
 */
export async function openNodeDb(dataDir: string, log: Logger): Promise<NodeDb> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = dbPath(dataDir);
  const db = openDb(file);
  const { from, to } = migrate(db);
  if (from !== to) log.info({ from, to }, 'database migrated');
  const dbLog = log.child({ component: 'db' });
  const checkpointer = await WalCheckpointer.start(db, file, dbLog).catch((err: unknown) => {
    dbLog.warn({ err }, 'WAL checkpoint worker did not start; the database connection checkpoints itself');
    return undefined;
  });
  return {
    db,
    close: async () => {
      await checkpointer?.stop();
      db.close();
    },
  };
}
