import path from 'node:path';
import type { Config, Destination } from '../config/schema.js';
import type { OutboxRow, OutboxStore } from '../store/outbox.js';
import type { Logger } from '../log.js';
import { nextAttemptAt, type Delivery } from './retry.js';
import { storeFiles, describeAttempt, type StoreAttempt } from './storeScu.js';
import { isStoreAccepted } from '../dicom/status.js';

/** Sends one email row; the dispatcher owns retries. */
export type EmailSender = (row: OutboxRow) => Promise<Delivery>;

export interface DispatchSettings {
  destinations: readonly Destination[];
  retry: Config['dispatch']['retry'];
  callingAeTitle: string;
  dataDir: string;
  timeoutMs: number;
}

/**
 * The outbox's sender: due rows go out with their retry state on the row itself. DICOM rows
 * for the same destination share one association; emails go one by one.
 */
export class Dispatcher {
  constructor(
    private readonly outbox: OutboxStore,
    private readonly settings: () => DispatchSettings,
    private readonly sendEmail: EmailSender,
    private readonly log: Logger,
    private readonly onFailedAttempt: (kind: string) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  async runOnce(): Promise<boolean> {
    const due = this.outbox.due(this.now(), 100);
    if (due.length === 0) return false;
    const s = this.settings();
    const dicom = new Map<string, OutboxRow[]>();
    const work: Promise<void>[] = [];
    for (const row of due) {
      if (row.kind === 'email') {
        work.push(this.sendEmail(row).then((d) => this.settle(row, d, s)));
      } else {
        dicom.set(row.destination, [...(dicom.get(row.destination) ?? []), row]);
      }
    }
    for (const [name, rows] of dicom) work.push(this.sendDicom(name, rows, s));
    await Promise.all(work);
    return true;
  }

  private async sendDicom(name: string, rows: OutboxRow[], s: DispatchSettings): Promise<void> {
    const destination = s.destinations.find((d) => d.name === name);
    if (!destination) {
      for (const row of rows) this.settle(row, { ok: false, transient: false, error: `destination "${name}" is not in the config`, status: null }, s);
      return;
    }
    const files = rows.map((r) => path.join(s.dataDir, r.payloadPath ?? ''));
    const attempts = await storeFiles(
      { host: destination.host, port: destination.port, aeTitle: destination.aeTitle, callingAeTitle: destination.callingAeTitle ?? s.callingAeTitle, timeoutMs: s.timeoutMs },
      files,
    );
    rows.forEach((row, i) => this.settle(row, toDelivery(attempts[i]!), s));
  }

  private settle(row: OutboxRow, d: Delivery, s: DispatchSettings): void {
    const log = this.log.child({ outbox: row.id, kind: row.kind, destination: row.destination, series: row.seriesUid });
    const now = this.now();
    if (d.ok) {
      this.outbox.markSent(row.id, d.status, now);
      log.info({ attempts: row.attempts + 1, sinceQueuedMs: now - row.createdAt }, 'output delivered');
      return;
    }
    this.onFailedAttempt(row.kind);
    const retryAt = d.transient ? nextAttemptAt(row.attempts + 1, s.retry, now) : null;
    this.outbox.markAttempt(row.id, { error: d.error, status: d.status, retryAt });
    if (retryAt === null) log.error({ error: d.error, attempts: row.attempts + 1 }, 'output failed; `ich-triage outbox retry` requeues it');
    else log.warn({ error: d.error, attempts: row.attempts + 1, retryInMs: retryAt - now }, 'output not delivered; will retry');
  }
}

/** Out of Resources (0xA7xx) is worth retrying; other failure statuses refuse the object. */
export function toDelivery(a: StoreAttempt): Delivery {
  if ('unreachable' in a) return { ok: false, transient: true, error: describeAttempt(a), status: null };
  if ('unsendable' in a) return { ok: false, transient: false, error: describeAttempt(a), status: null };
  if (isStoreAccepted(a.status)) return { ok: true, status: a.status };
  const transient = (a.status & 0xff00) === 0xa700;
  return { ok: false, transient, error: `rejected: ${describeAttempt(a)}`, status: a.status };
}
