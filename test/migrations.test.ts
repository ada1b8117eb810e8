import { afterAll, expect, test } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { listMigrations, migrate, openDb } from '../src/store/db.js';
import { mainJs } from './helpers/daemon.js';
import { runTool } from './helpers/dcmtk.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ich-migrations-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const latest = listMigrations().at(-1)!.version;

function userVersion(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
}

test('migrate applies every numbered file once and records the version in PRAGMA user_version', () => {
  const file = path.join(dir, 'fresh.db');
  const db = openDb(file);
  try {
    expect(migrate(db)).toEqual({ from: 0, to: latest });
    expect(db.pragma('user_version', { simple: true })).toBe(latest);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    expect(tables).toEqual(expect.arrayContaining(['instances', 'series', 'slice_results', 'outbox']));
    expect(migrate(db)).toEqual({ from: latest, to: latest });
  } finally {
    db.close();
  }
});

test('a failing migration rolls back and names its file; the earlier ones stay', () => {
  const migrations = path.join(dir, 'broken-migrations');
  mkdirSync(migrations);
  writeFileSync(path.join(migrations, '001_first.sql'), 'CREATE TABLE a (x INTEGER);');
  writeFileSync(path.join(migrations, '002_broken.sql'), 'CREATE TABLE b (y INTEGER); CREATE TABLE a (x INTEGER);');
  const db = openDb(path.join(dir, 'broken.db'));
  try {
    expect(() => migrate(db, migrations)).toThrow(/002_broken\.sql: .*already exists/);
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'b'").pluck().get()).toBe(0);
  } finally {
    db.close();
  }
});

test('a database newer than the code is refused', () => {
  const db = openDb(path.join(dir, 'newer.db'));
  try {
    db.pragma(`user_version = ${latest + 1}`);
    expect(() => migrate(db)).toThrow(/newer than this version knows/);
  } finally {
    db.close();
  }
});

test('ich-triage db migrate is idempotent', async () => {
  const config = path.join(dir, 'cli.yaml');
  writeFileSync(config, 'model:\n  path: m.onnx\nstorage:\n  dataDir: cli-data\n');
  const first = await runTool(process.execPath, [mainJs, 'db', 'migrate', '--config', config]);
  expect(first.code, first.output).toBe(0);
  expect(first.stdout).toBe(`migrated schema 0 -> ${latest}\n`);
  const second = await runTool(process.execPath, [mainJs, 'db', 'migrate', '--config', config]);
  expect(second.code, second.output).toBe(0);
  expect(second.stdout).toBe(`schema is at version ${latest}\n`);
  expect(userVersion(path.join(dir, 'cli-data', 'ich-triage.db'))).toBe(latest);
});
