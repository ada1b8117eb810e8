import type { Config } from '../config/schema.js';
import type { SeriesStore } from '../store/series.js';
import type { OutboxStore } from '../store/outbox.js';
import type { DecisionModel } from './decideStage.js';
import { adjacentRun, orderSlices, type SliceScore } from '../series/aggregate.js';
import type { EarlyAlert as EarlyAlertFacts } from '../reports/email.js';
import { emailOutput, emailFields } from '../dispatch/plan.js';
import { readReportSource } from '../reports/source.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';

/**
 * alerts.early: while a series is still arriving, email as soon as `alerts.slices` adjacent
 * slices reach `alerts.threshold` for "any". The email's key is the one the final urgent email
 * would have, so a series never gets two urgent emails; the SR still follows completion.
 */
export class EarlyAlert {
  constructor(
    private readonly series: SeriesStore,
    private readonly outbox: OutboxStore,
    private readonly settings: () => { config: Readonly<Config>; model: DecisionModel },
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Looks at the series a batch touched; returns how many alerts were queued. */
  check(seriesUids: Iterable<string>): number {
    const { config, model } = this.settings();
    if (!config.alerts.early || !config.email.enabled) return 0;
    const anyIndex = model.classes.indexOf('any');
    if (anyIndex < 0) return 0;
    let queued = 0;
    for (const uid of seriesUids) {
      const row = this.series.get(uid);
      if (!row || row.state !== 'open' || row.earlyAlertAt !== null) continue;
      const slices = this.series.slicesOf(uid);
      const scored: SliceScore[] = slices
        .filter((s) => s.probs !== null)
        .map((s) => ({ sopInstanceUid: s.sopInstanceUid, sopClassUid: s.sopClassUid, instanceNumber: s.instanceNumber, z: s.z, probs: JSON.parse(s.probs!) as number[] }));
      const run = adjacentRun(scored, anyIndex, config.alerts.threshold, config.alerts.slices);
      if (!run) continue;
      const now = this.now();
      const order = orderSlices(scored);
      const alert: EarlyAlertFacts = {
        seriesUid: uid,
        model: model.info,
        className: 'any',
        threshold: config.alerts.threshold,
        slices: run.map((s) => ({
          sopInstanceUid: s.sopInstanceUid,
          sopClassUid: s.sopClassUid,
          instanceNumber: s.instanceNumber,
          z: s.z,
          index: order.indexOf(s) + 1,
          probability: s.probs[anyIndex]!,
        })),
        slicesReceived: slices.length,
      };
      const sourcePath = slices.find((s) => s.sopInstanceUid === run[0]!.sopInstanceUid)!.path;
      const fields = emailFields(readReportSource(readFileSync(path.join(config.storage.dataDir, sourcePath))).fields, config.email.includePhi);
      const queuedNow = this.series.db.transaction(() => {
        if (!this.series.markEarlyAlert(uid, now)) return false;
        return this.outbox.add(emailOutput({ kind: 'early', alert, fields, thumbnail: config.email.thumbnail ? sourcePath : null }), now);
      })();
      if (queuedNow) {
        queued++;
        this.log.warn({ series: uid, slices: run.map((s) => s.sopInstanceUid), threshold: config.alerts.threshold }, 'early urgent alert queued');
      }
    }
    return queued;
  }
}
