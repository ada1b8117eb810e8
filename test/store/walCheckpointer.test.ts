// The WAL checkpointer on a real SQLite file: commits on the node's connection never checkpoint,
// the worker's connection does, and the connection takes over again when the worker is gone.
import { afterAll, expect, test } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { openDb } from '../../src/store/db.js';
import { WalCheckpointer } from '../../src/store/walCheckpointer.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ich-wal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const silent = pino({ level: 'silent' });

/** ~2,000 pages of rows, over the 1,000 at which the connection itself would checkpoint. */
function fill(db: ReturnType<typeof openDb>): void {
  db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)');
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  for (let i = 0; i < 200; i++) db.transaction(() => insert.run('x'.repeat(40_000)))();
}

test("the node's commits leave the WAL alone; the worker copies it into the database file", async () => {
  const file = path.join(dir, 'worker.db');
  const db = openDb(file);
  const checkpointer = await WalCheckpointer.start(db, file, silent, 200);
  try {
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const before = statSync(file).size;
    fill(db);
    // Copied only by a checkpoint: the 8 MB are in the WAL until the worker has run.
    for (const deadline = Date.now() + 5000; statSync(file).size < before + 8_000_000 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(statSync(file).size).toBeGreaterThan(before + 8_000_000);
    expect(db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(200);
  } finally {
    await checkpointer.stop();
  }
  // Stopped: the connection checkpoints itself again, as SQLite does by default.
  expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  await checkpointer.stop();
  db.close();
});

test('without the worker the connection keeps checkpointing itself', async () => {
  const file = path.join(dir, 'alone.db');
  const db = openDb(file);
  await expect(WalCheckpointer.start(db, path.join(dir, 'missing', 'x.db'), silent)).rejects.toThrow(/unable to open|directory does not exist|SQLITE_CANTOPEN/i);
  expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  const before = statSync(file).size;
  fill(db);
  expect(statSync(file).size).toBeGreaterThan(before + 4_000_000);
  db.close();
});

/**
 * A fresh database whose checkpointer rewinds the WAL past `limit` bytes, and 16 KB rows committed
 * for `ms`, about one a millisecond as a busy node's come: never a pause long enough for a
 * checkpoint to catch up. Returns the WAL file's largest size.
 */
async function largestWal(name: string, limit: number, ms: number): Promise<number> {
  const file = path.join(dir, name);
  const db = openDb(file);
  const checkpointer = await WalCheckpointer.start(db, file, silent, 100, limit);
  try {
    db.exec('CREATE TABLE s (id INTEGER PRIMARY KEY, v TEXT)');
    const insert = db.prepare('INSERT INTO s (v) VALUES (?)');
    let largest = 0;
    for (const end = Date.now() + ms; Date.now() < end; ) {
      db.transaction(() => insert.run('y'.repeat(16_000)))();
      largest = Math.max(largest, statSync(`${file}-wal`).size);
      await new Promise((r) => setTimeout(r, 1));
    }
    return largest;
  } finally {
    await checkpointer.stop();
    db.close();
  }
}

test('under commits that never pause, a WAL past the limit is rewound instead of growing without end', async () => {
  const limit = 2 * 1024 * 1024;
  // The limit and what ~100 ms of commits add; without it (SQLite rewinds a WAL only when a
  // commit finds it all copied) the file grows as long as the commits go on.
  const bound = limit + 16 * 1024 * 1024;
  expect(await largestWal('unlimited.db', Infinity, 3000)).toBeGreaterThan(bound);
  expect(await largestWal('limited.db', limit, 3000)).toBeLessThan(bound);
});
