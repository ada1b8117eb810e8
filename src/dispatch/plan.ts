import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import type { SeriesResult } from '../series/result.js';
import type { SeriesSlice } from '../store/series.js';
import type { OutboxStore, NewOutput } from '../store/outbox.js';
import { buildSr } from '../reports/sr.js';
import { buildKos } from '../reports/kos.js';
import { readReportSource, type ReportSourceFields } from '../reports/source.js';

export interface PlanSettings {
  config: Readonly<Config>;
  softwareVersion: string;
  now: number;
}

/** The email's facts, fixed at decision time (the source file may be gone when it is sent). */
export interface EmailPayload {
  seriesUid: string;
  revision: number;
  /** An alert before the series completed. */
  early: boolean;
  fields: Partial<ReportSourceFields>;
  /** The findings the email reports (for an early alert, those known so far). */
  result: SeriesResult;
}

export const outboxDir = 'outbox';

/**
 * Queues what a decision sends, in the caller's transaction: the SR to every destination that
 * takes `sr`, the KOS (urgent only) to those that take `kos`, and the email. Keys make each
 * output unique: one SR and KOS per revision and destination, one email per series and
 * decision (so an early urgent alert is never followed by a second urgent email).
 */
export function planOutputs(result: SeriesResult, slices: readonly SeriesSlice[], outbox: OutboxStore, settings: PlanSettings): number {
  const { config, now } = settings;
  const dataDir = config.storage.dataDir;
  const sourceSlice = pickSource(result, slices);
  const source = readFileSync(path.join(dataDir, sourceSlice.path));
  const options = { uidRoot: config.reports.uidRoot, softwareVersion: settings.softwareVersion, institutionName: config.reports.institutionName, now: new Date(now) };
  const outputs: NewOutput[] = [];
  const payloadFile = (kind: string) => {
    const name = `${createHash('sha256').update(result.seriesUid).digest('hex').slice(0, 24)}-r${result.revision}-${kind}.dcm`;
    return path.join(outboxDir, name);
  };
  const wantsSr = config.destinations.filter((d) => d.send.includes('sr'));
  const wantsKos = result.decision === 'urgent' ? config.destinations.filter((d) => d.send.includes('kos')) : [];
  const write = (relative: string, bytes: Buffer) => {
    mkdirSync(path.join(dataDir, outboxDir), { recursive: true, mode: 0o700 });
    writeFileSync(path.join(dataDir, relative), bytes, { mode: 0o600 });
  };
  if (wantsSr.length > 0) {
    const file = payloadFile('sr');
    write(file, buildSr(result, source, options));
    for (const d of wantsSr) outputs.push(dicomOutput('sr', result, d.name, file));
  }
  if (wantsKos.length > 0) {
    const file = payloadFile('kos');
    write(file, buildKos(result, source, options));
    for (const d of wantsKos) outputs.push(dicomOutput('kos', result, d.name, file));
  }
  if (config.email.enabled && (result.decision === 'urgent' || !config.email.onlyUrgent)) {
    outputs.push(emailOutput(result, emailFields(readReportSource(source).fields, config.email.includePhi), false));
  }
  return outputs.filter((o) => outbox.add(o, now)).length;
}

function dicomOutput(kind: 'sr' | 'kos', result: SeriesResult, destination: string, payloadPath: string): NewOutput {
  return { key: `${kind}:${result.seriesUid}:r${result.revision}:${destination}`, seriesUid: result.seriesUid, kind, destination, payloadPath, payload: null };
}

export function emailOutput(result: SeriesResult, fields: Partial<ReportSourceFields>, early: boolean): NewOutput {
  const payload: EmailPayload = { seriesUid: result.seriesUid, revision: result.revision, early, fields, result };
  return {
    key: `email:${result.seriesUid}:${early ? 'urgent' : result.decision}`,
    seriesUid: result.seriesUid,
    kind: 'email',
    destination: 'email',
    payloadPath: null,
    payload: JSON.stringify(payload),
  };
}

/** The top key slice when there is one (its instance is referenced anyway), else the first slice. */
function pickSource(result: SeriesResult, slices: readonly SeriesSlice[]): SeriesSlice {
  const key = result.flagged.map((c) => result.keySlices[c]?.[0]?.sopInstanceUid).find(Boolean);
  const usable = slices.filter((s) => s.state !== 'skipped');
  return usable.find((s) => s.sopInstanceUid === key) ?? usable[0] ?? slices[0]!;
}

/** Patient identifiers are kept for the email only when email.includePhi is set. */
export function emailFields(fields: ReportSourceFields, includePhi: boolean): Partial<ReportSourceFields> {
  if (includePhi) return fields;
  const { patientName: _n, patientId: _i, patientBirthDate: _b, ...rest } = fields;
  return rest;
}
