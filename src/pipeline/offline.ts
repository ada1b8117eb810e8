/**
 * The node's classification path without the network: files -> headers -> inference workers
 * -> per-series decisions, through the same functions the daemon uses (`classify`, `eval`).
 */
import { readFileSync } from 'node:fs';
import { readHeader, type InstanceHeader } from '../dicom/header.js';
import { classificationRefusal } from '../ingest/receiver.js';
import { positionAlongNormal, tiltDegrees } from '../series/geometry.js';
import { decideSeries, type DecisionContext, type SeriesOutcome } from '../series/decide.js';
import type { SeriesRow, SeriesSlice } from '../store/series.js';
import type { InferenceEngine } from '../inference/engine.js';
import { errorMessage } from '../errors.js';

export interface OfflineSlice {
  file: string;
  sopInstanceUid: string;
  sopClassUid: string;
  seriesUid: string;
  studyUid: string;
  instanceNumber: number | null;
  z: number | null;
  tiltDeg: number | null;
  imageType: string | null;
  /** Not classified, and why (not a CT image, say). */
  skipReason: string | null;
  probs: number[] | null;
  error: string | null;
  preprocessMs: number;
  inferenceMs: number;
  tensor?: Float32Array;
}

export interface OfflineRun {
  slices: OfflineSlice[];
  series: Array<{ seriesUid: string; studyUid: string; accessionNumber: string | null; outcome: SeriesOutcome }>;
  /** Files that are not readable DICOM, with the reason. */
  unreadable: Array<{ file: string; reason: string }>;
}

export interface OfflineOptions {
  wantTensors?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export async function classifyFiles(
  files: readonly string[],
  engine: InferenceEngine,
  context: Omit<DecisionContext, 'now'>,
  options: OfflineOptions = {},
): Promise<OfflineRun> {
  const slices: OfflineSlice[] = [];
  const headers = new Map<string, InstanceHeader>();
  const unreadable: OfflineRun['unreadable'] = [];
  for (const file of files) {
    try {
      const parsed = readHeader(readFileSync(file));
      const h = parsed.header;
      const sopClassUid = h.sopClassUid ?? parsed.mediaStorageSopClassUid ?? '';
      if (!h.sopInstanceUid || !h.seriesUid || !h.studyUid) throw new Error('no SOP Instance, Series or Study Instance UID');
      headers.set(h.seriesUid, headers.get(h.seriesUid) ?? h);
      slices.push({
        file,
        sopInstanceUid: h.sopInstanceUid,
        sopClassUid,
        seriesUid: h.seriesUid,
        studyUid: h.studyUid,
        instanceNumber: h.instanceNumber ?? null,
        z: positionAlongNormal(h.imagePositionPatient, h.imageOrientationPatient) ?? null,
        tiltDeg: tiltDegrees(h.imageOrientationPatient) ?? null,
        imageType: h.imageType.length > 0 ? h.imageType.join('\\') : null,
        skipReason: classificationRefusal(sopClassUid, h),
        probs: null,
        error: null,
        preprocessMs: 0,
        inferenceMs: 0,
      });
    } catch (err) {
      unreadable.push({ file, reason: errorMessage(err) });
    }
  }

  const todo = slices.filter((s) => s.skipReason === null);
  const batchSize = engine.status.batchSize;
  let done = 0;
  options.onProgress?.(0, todo.length);
  const batches: Promise<void>[] = [];
  for (let i = 0; i < todo.length; i += batchSize) {
    const batch = todo.slice(i, i + batchSize);
    batches.push(
      engine.classify(batch.map((s, j) => ({ key: String(i + j), path: s.file })), { wantTensors: options.wantTensors }).then((result) => {
        const classified = result.items.filter((r) => r.probs).length;
        for (const r of result.items) {
          const s = todo[Number(r.key)]!;
          s.probs = r.probs ?? null;
          s.error = r.error ?? null;
          s.preprocessMs = r.preprocessMs;
          s.inferenceMs = r.probs ? result.inferenceMs / Math.max(1, classified) : 0;
          if (r.tensor) s.tensor = r.tensor;
        }
        done += batch.length;
        options.onProgress?.(done, todo.length);
      }),
    );
  }
  await Promise.all(batches);

  const now = Date.now();
  const bySeries = new Map<string, OfflineSlice[]>();
  for (const s of slices) bySeries.set(s.seriesUid, [...(bySeries.get(s.seriesUid) ?? []), s]);
  const series: OfflineRun['series'] = [];
  for (const [seriesUid, members] of bySeries) {
    const h = headers.get(seriesUid)!;
    const row: SeriesRow = {
      seriesUid,
      studyUid: members[0]!.studyUid,
      modality: h.modality ?? null,
      seriesDescription: h.seriesDescription ?? null,
      contrastAgent: h.contrastBolusAgent ?? null,
      accessionNumber: h.accessionNumber ?? null,
      expectedSlices: null,
      firstReceivedAt: now,
      lastReceivedAt: now,
      state: 'open',
      revision: 0,
      skipReason: null,
      decision: null,
      result: null,
      modelSha256: null,
      modelVersion: null,
      decidedAt: null,
      earlyAlertAt: null,
    };
    const rows: SeriesSlice[] = members.map((s) => ({
      sopInstanceUid: s.sopInstanceUid,
      sopClassUid: s.sopClassUid,
      instanceNumber: s.instanceNumber,
      z: s.z,
      tiltDeg: s.tiltDeg,
      imageType: s.imageType,
      state: s.skipReason ? 'skipped' : s.probs ? 'classified' : 'failed',
      skipReason: s.skipReason,
      error: s.error,
      path: s.file,
      receivedAt: now,
      probs: s.probs ? JSON.stringify(s.probs) : null,
      modelSha256: s.probs ? context.model.sha256 : null,
      preprocessMs: s.preprocessMs,
      inferenceMs: s.inferenceMs,
    }));
    series.push({ seriesUid, studyUid: row.studyUid, accessionNumber: row.accessionNumber, outcome: decideSeries(row, rows, { ...context, now }) });
  }
  return { slices, series, unreadable };
}
