// The queries the pipeline runs at every turn of its loop must not grow with the backlog: with
// 4,800 slices waiting over 4 associations, the decide stage's query walked every waiting row for
// every open series and held the event loop for 3-9 s at a time; retention scanned whole tables.
import { afterAll, expect, test } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Statement } from 'better-sqlite3';
import { migrate, openDb } from '../../src/store/db.js';
import { SeriesStore } from '../../src/store/series.js';
import { SliceStore } from '../../src/store/slices.js';
import { RetentionStore } from '../../src/store/retention.js';
import { OutboxStore } from '../../src/store/outbox.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ich-plans-'));
const db = openDb(path.join(dir, 'plans.db'));
migrate(db);
afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** SQLite's plan for a store's prepared statement, one line per step. */
function plan(store: object, statement: string): string[] {
  const sql = (store as Record<string, Statement>)[statement]!.source;
  const params = { idleBefore: 0 };
  const positional = Array.from({ length: sql.split('?').length - 1 }, () => 10);
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...(sql.includes('@idleBefore') ? [params] : positional)) as { detail: string }[]).map((r) => r.detail);
}

test("the decide stage's due series: each series' own instances, not every waiting slice", () => {
  const steps = plan(new SeriesStore(db), 'due');
  expect(steps).toContain('SEARCH i USING INDEX instances_series (series_uid=?)');
  expect(steps.filter((s) => s.includes('instances_pending'))).toEqual([]);
});

test("the classify stage's next slices: read in arrival order from the index, never sorted", () => {
  const steps = plan(new SliceStore(db), 'pending');
  expect(steps).toEqual(['SCAN instances USING INDEX instances_pending']);
});

test('retention reads only what it may delete: spool files still on disk, payloads not yet deleted', () => {
  const store = new RetentionStore(db);
  expect(plan(store, 'expiredSpool')).toEqual([
    'SEARCH i USING INDEX instances_spooled (processed_at>? AND processed_at<?)',
    'CORRELATED SCALAR SUBQUERY 1',
    'SEARCH o USING COVERING INDEX outbox_pending_payloads (payload_path=?)',
    'CORRELATED SCALAR SUBQUERY 2',
    'SEARCH s USING INDEX sqlite_autoindex_series_1 (series_uid=?)',
  ]);
  expect(plan(store, 'expiredPayloads')[0]).toBe('SEARCH outbox USING INDEX outbox_payloads (created_at<?)');
});

test("the dispatcher's due outputs: results, then forwards, each read in due order from its own index, never sorted", () => {
  const store = new OutboxStore(db);
  expect(plan(store, 'dueResultsStmt')).toEqual(['SEARCH outbox USING INDEX outbox_due_results (next_attempt_at<?)']);
  expect(plan(store, 'dueForwardsStmt')).toEqual(['SEARCH outbox USING INDEX outbox_due_forwards (next_attempt_at<?)']);
});
