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
import type { EarlyAlert as EarlyAlertFacts, EmailSourceFields } from '../reports/email.js';

export interface PlanSettings {
  config: Readonly<Config>;
  softwareVersion: string;
  now: number;
}

/**
 * The email's facts, fixed when it is queued (the source file may be gone when it is sent):
 * the decided result, or for an early alert the slices that triggered it.
 */
export type EmailPayload =
  | { kind: 'final'; result: SeriesResult; fields: EmailSourceFields; thumbnail: string | null }
  | { kind: 'early'; alert: EarlyAlertFacts; fields: EmailSourceFields; thumbnail: string | null };

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
    const thumbnail = config.email.thumbnail ? keySlicePath(result, slices) : null;
    outputs.push(emailOutput({ kind: 'final', result, fields: emailFields(readReportSource(source).fields, config.email.includePhi), thumbnail }));
  }
  return outputs.filter((o) => outbox.add(o, now)).length;
}

function dicomOutput(kind: 'sr' | 'kos', result: SeriesResult, destination: string, payloadPath: string): NewOutput {
  return { key: `${kind}:${result.seriesUid}:r${result.revision}:${destination}`, seriesUid: result.seriesUid, kind, destination, payloadPath, payload: null };
}

/** One email per series and decision; an early alert counts as the urgent one. */
export function emailOutput(payload: EmailPayload): NewOutput {
  const seriesUid = payload.kind === 'final' ? payload.result.seriesUid : payload.alert.seriesUid;
  const decision = payload.kind === 'final' ? payload.result.decision : 'urgent';
  return { key: `email:${seriesUid}:${decision}`, seriesUid, kind: 'email', destination: 'email', payloadPath: null, payload: JSON.stringify(payload) };
}

/** The top key slice when there is one (its instance is referenced anyway), else the first slice. */
function pickSource(result: SeriesResult, slices: readonly SeriesSlice[]): SeriesSlice {
  const key = result.flagged.map((c) => result.keySlices[c]?.[0]?.sopInstanceUid).find(Boolean);
  const usable = slices.filter((s) => s.state !== 'skipped');
  return usable.find((s) => s.sopInstanceUid === key) ?? usable[0] ?? slices[0]!;
}

/** Patient identifiers are kept for the email only when email.includePhi is set. */
export function emailFields(f: ReportSourceFields, includePhi: boolean): EmailSourceFields {
  return {
    accessionNumber: f.accessionNumber,
    studyDate: f.studyDate,
    studyTime: f.studyTime,
    studyDescription: f.studyDescription,
    patientName: includePhi ? f.patientName : '',
    patientId: includePhi ? f.patientId : '',
    patientBirthDate: includePhi ? f.patientBirthDate : '',
  };
}

/** The spool file of the top key slice, for the email thumbnail. */
function keySlicePath(result: SeriesResult, slices: readonly SeriesSlice[]): string | null {
  const key = result.flagged.map((c) => result.keySlices[c]?.[0]?.sopInstanceUid).find(Boolean);
  return slices.find((s) => s.sopInstanceUid === key)?.path ?? null;
}
