import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config, Destination } from '../config/schema.js';
import type { OutboxRow, OutboxStore } from '../store/outbox.js';
import type { Logger } from '../log.js';
import { nextAttemptAt, type Delivery } from './retry.js';
import { storeFiles, describeAttempt, type StoreAttempt, type StorePeer } from './storeScu.js';
import { errorMessage } from '../errors.js';
import { isStoreAccepted } from '../dicom/status.js';

/** Sends one email row; the dispatcher owns retries. */
export type EmailSender = (row: OutboxRow) => Promise<Delivery>;

export interface DispatchSettings {
  destinations: readonly Destination[];
  retry: Config['dispatch']['retry'];
  callingAeTitle: string;
  dataDir: string;
  timeoutMs: number;
  /** dicom.tls, for destinations with `tls: true`: its ca verifies the peer, its cert and key identify the node. */
  tls?: Config['dicom']['tls'];
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
    let tls: StorePeer['tls'];
    try {
      tls = destination.tls ? clientTls(s.tls) : undefined;
    } catch (err) {
      for (const row of rows) this.settle(row, { ok: false, transient: true, error: `TLS files unreadable: ${errorMessage(err)}`, status: null }, s);
      return;
    }
    const files = rows.map((r) => path.join(s.dataDir, r.payloadPath ?? ''));
    const attempts = await storeFiles(
      { host: destination.host, port: destination.port, aeTitle: destination.aeTitle, callingAeTitle: destination.callingAeTitle ?? s.callingAeTitle, timeoutMs: s.timeoutMs, tls },
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

/**
 * TLS for a destination (PS3.15 B.1): the peer's certificate is always verified, against
 * dicom.tls.ca when set, else the system's CAs; dicom.tls.cert and key, when set, are the
 * client certificate a peer may require. Read at each send, so that renewed files take effect.
 */
function clientTls(t: DispatchSettings['tls']): NonNullable<StorePeer['tls']> {
  const read = (file: string | undefined) => (file ? readFileSync(file) : undefined);
  return { ca: read(t?.ca), cert: read(t?.cert), key: read(t?.key), rejectUnauthorized: true };
}

/** Out of Resources (0xA7xx) is worth retrying; other failure statuses refuse the object. */
export function toDelivery(a: StoreAttempt): Delivery {
  if ('unreachable' in a) return { ok: false, transient: true, error: describeAttempt(a), status: null };
  if ('unsendable' in a) return { ok: false, transient: false, error: describeAttempt(a), status: null };
  if (isStoreAccepted(a.status)) return { ok: true, status: a.status };
  const transient = (a.status & 0xff00) === 0xa700;
  return { ok: false, transient, error: `rejected: ${describeAttempt(a)}`, status: a.status };
}
