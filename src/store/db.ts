import Database from 'better-sqlite3';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { IchError, errorMessage } from '../errors.js';

export type Db = Database.Database;

/** migrations/ sits at the package root, beside src/ and dist/. */
export const migrationsDir = fileURLToPath(new URL('../../migrations/', import.meta.url));

export const dbFileName = 'ich-triage.db';

export function openDb(file: string): Db {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // WAL + NORMAL survives a crash of the process; only a power loss may drop the last commits.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  return db;
}

interface Migration {
  version: number;
  file: string;
}

export function listMigrations(dir = migrationsDir): Migration[] {
  return readdirSync(dir)
    .map((file) => ({ file, m: /^(\d+)_.*\.sql$/.exec(file) }))
    .filter((x): x is { file: string; m: RegExpExecArray } => x.m !== null)
    .map(({ file, m }) => ({ version: Number(m[1]), file: path.join(dir, file) }))
    .sort((a, b) => a.version - b.version);
}

/** Applies the numbered SQL files above PRAGMA user_version, each in its own transaction. */
export function migrate(db: Db, dir = migrationsDir): { from: number; to: number } {
  const from = db.pragma('user_version', { simple: true }) as number;
  const migrations = listMigrations(dir);
  const latest = migrations.at(-1)?.version ?? 0;
  if (from > latest) {
    throw new IchError('DB_MIGRATION', `database is at schema ${from}, newer than this version knows (${latest})`);
  }
  for (const m of migrations.filter((m) => m.version > from)) {
    try {
      db.transaction(() => {
        db.exec(readFileSync(m.file, 'utf8'));
        db.pragma(`user_version = ${m.version}`);
      })();
    } catch (err) {
      throw new IchError('DB_MIGRATION', `${path.basename(m.file)}: ${errorMessage(err)}`, { cause: err });
    }
  }
  return { from, to: Math.max(from, latest) };
}

/** The node's database file for a data directory. */
export function dbPath(dataDir: string): string {
  return path.join(dataDir, dbFileName);
}

/** The database file a command reads, which must exist: the node created it on its first run. */
export function existingDbPath(dataDir: string): string {
  const file = dbPath(dataDir);
  if (!existsSync(file)) throw new IchError('NOT_FOUND', `no database at ${file}: the node has not run with this config yet`);
  return file;
}
