import type { Db } from './db.js';

export type OutputKind = 'sr' | 'kos' | 'email' | 'forward';

export interface NewOutput {
  /** Unique: the same output is never queued twice, whatever restarts happen. */
  key: string;
  seriesUid: string | null;
  kind: OutputKind;
  destination: string;
  /** DICOM payload, relative to dataDir. */
  payloadPath: string | null;
  /** JSON for emails. */
  payload: string | null;
}

export interface OutboxRow extends NewOutput {
  id: number;
  state: 'pending' | 'sent' | 'failed';
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  lastStatus: number | null;
  createdAt: number;
  sentAt: number | null;
}

const columns = `id, key, series_uid AS seriesUid, kind, destination, payload_path AS payloadPath, payload, state,
  attempts, next_attempt_at AS nextAttemptAt, last_error AS lastError, last_status AS lastStatus,
  created_at AS createdAt, sent_at AS sentAt`;

export class OutboxStore {
  private readonly insertStmt;
  private readonly dueResultsStmt;
  private readonly dueForwardsStmt;
  private readonly sentStmt;
  private readonly attemptStmt;
  private readonly byId;
  private readonly recent;
  private readonly retryStmt;
  private readonly countsStmt;

  constructor(readonly db: Db) {
    this.insertStmt = db.prepare(`INSERT OR IGNORE INTO outbox (key, series_uid, kind, destination, payload_path, payload,
      next_attempt_at, created_at) VALUES (@key, @seriesUid, @kind, @destination, @payloadPath, @payload, @now, @now)`);
    // Results (SR, KOS, email) before forwards: a routing backlog must not delay an alert. Each
    // reads its own index in due order (migration 004), named because SQLite without statistics
    // took (state, next_attempt_at) and sorted every due row.
    const dueFrom = (index: string, kind: string) =>
      db.prepare(`SELECT ${columns} FROM outbox INDEXED BY ${index}
        WHERE state = 'pending' AND ${kind} AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`);
    this.dueResultsStmt = dueFrom('outbox_due_results', "kind != 'forward'");
    this.dueForwardsStmt = dueFrom('outbox_due_forwards', "kind = 'forward'");
    this.sentStmt = db.prepare(`UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?, last_status = ?, last_error = NULL WHERE id = ?`);
    this.attemptStmt = db.prepare(`UPDATE outbox SET state = @state, attempts = attempts + 1, next_attempt_at = @nextAttemptAt,
      last_error = @error, last_status = @status WHERE id = @id`);
    this.byId = db.prepare(`SELECT ${columns} FROM outbox WHERE id = ?`);
    this.recent = db.prepare(`SELECT ${columns} FROM outbox WHERE @state IS NULL OR state = @state ORDER BY id DESC LIMIT @limit`);
    this.retryStmt = db.prepare(`UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ? WHERE id = ?`);
    this.countsStmt = db.prepare(`SELECT state, count(*) AS n FROM outbox GROUP BY state`);
  }

  /** True when queued, false when an output with this key already exists. */
  add(output: NewOutput, now: number): boolean {
    return this.insertStmt.run({ ...output, now }).changes === 1;
  }

  /** Up to `limit` outputs due at `now`: results first, then forwards, each in due order. */
  due(now: number, limit: number): OutboxRow[] {
    const results = this.dueResultsStmt.all(now, limit) as OutboxRow[];
    if (results.length === limit) return results;
    return [...results, ...(this.dueForwardsStmt.all(now, limit - results.length) as OutboxRow[])];
  }

  markSent(id: number, status: number | null, now: number): void {
    this.sentStmt.run(now, status, id);
  }

  /** A failed attempt: retried at nextAttemptAt, or given up on (`failed`) for good. */
  markAttempt(id: number, outcome: { error: string; status: number | null; retryAt: number | null }): void {
    this.attemptStmt.run({
      id,
      state: outcome.retryAt === null ? 'failed' : 'pending',
      nextAttemptAt: outcome.retryAt ?? 0,
      error: outcome.error,
      status: outcome.status,
    });
  }

  get(id: number): OutboxRow | undefined {
    return this.byId.get(id) as OutboxRow | undefined;
  }

  /** The newest rows, of one state when given (failed rows are otherwise buried under forwards). */
  latest(limit: number, state: OutboxRow['state'] | null = null): OutboxRow[] {
    return this.recent.all({ limit, state }) as OutboxRow[];
  }

  /** Queues an output again, sent or failed: the one way to send something twice. */
  retry(id: number, now: number): boolean {
    return this.retryStmt.run(now, id).changes === 1;
  }

  counts(): Record<'pending' | 'sent' | 'failed', number> {
    const out = { pending: 0, sent: 0, failed: 0 };
    for (const r of this.countsStmt.all() as Array<{ state: keyof typeof out; n: number }>) out[r.state] = r.n;
    return out;
  }
}
