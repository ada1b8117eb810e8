import type { Db } from './db.js';

/**
 * What waits in each queue: counts over indexes of the waiting rows only, cheap enough for every
 * Prometheus scrape (the whole status read 1,000,000 instances in ~200 ms, on the event loop).
 */
export function queuesFromDb(db: Db) {
  const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
  return {
    slicesWaiting: count(`SELECT count(*) AS n FROM instances WHERE state = 'received'`),
    seriesOpen: count(`SELECT count(*) AS n FROM series WHERE state = 'open'`),
    outboxPending: count(`SELECT count(*) AS n FROM outbox WHERE state = 'pending'`),
  };
}

/** Read-only queries behind `ich-triage status` and /status. */
export function statusFromDb(db: Db, now: number) {
  const one = <T>(sql: string, ...params: unknown[]) => db.prepare(sql).get(...params) as T;
  const all = <T>(sql: string, ...params: unknown[]) => db.prepare(sql).all(...params) as T[];
  const dayAgo = now - 24 * 3600_000;
  return {
    queues: queuesFromDb(db),
    last24h: {
      instances: one<{ n: number }>(`SELECT count(*) AS n FROM instances WHERE received_at >= ?`, dayAgo).n,
      seriesDecided: one<{ n: number }>(`SELECT count(*) AS n FROM series WHERE state = 'decided' AND decided_at >= ?`, dayAgo).n,
      urgent: all<{ seriesUid: string; accessionNumber: string | null; decidedAt: number; flagged: string }>(
        `SELECT series_uid AS seriesUid, accession_number AS accessionNumber, decided_at AS decidedAt,
           json_extract(result, '$.flagged') AS flagged
         FROM series WHERE decision = 'urgent' AND decided_at >= ? ORDER BY decided_at DESC`,
        dayAgo,
      ).map((r) => ({ ...r, flagged: JSON.parse(r.flagged) as string[] })),
    },
    lastSeries: all<{ seriesUid: string; state: string; decision: string | null; skipReason: string | null; anyScore: number | null; lastReceivedAt: number; decidedAt: number | null }>(
      `SELECT series_uid AS seriesUid, state, decision, skip_reason AS skipReason,
         json_extract(result, '$.scores.any') AS anyScore, last_received_at AS lastReceivedAt, decided_at AS decidedAt
       FROM series ORDER BY last_received_at DESC LIMIT 10`,
    ),
    outboxFailures: all<{ id: number; kind: string; destination: string; attempts: number; lastError: string | null; seriesUid: string | null }>(
      `SELECT id, kind, destination, attempts, last_error AS lastError, series_uid AS seriesUid
       FROM outbox WHERE state = 'failed' OR (state = 'pending' AND attempts > 0) ORDER BY id DESC LIMIT 20`,
    ),
  };
}

export type DbStatus = ReturnType<typeof statusFromDb>;
