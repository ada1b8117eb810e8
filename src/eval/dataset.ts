/**
 * Joins classified slices with reference labels by SOP Instance UID, and accounts for every
 * file and every label that did not make it into the metrics: nothing is dropped silently.
 */
import type { LabelTable } from './labels.js';

/** What `eval` needs of a classified slice (the offline pipeline's slices have it). */
export interface EvalSlice {
  file: string;
  sopInstanceUid: string;
  seriesUid: string;
  z: number | null;
  probs: readonly number[] | null;
  skipReason: string | null;
  error: string | null;
}

export type ClassifiedSlice = EvalSlice & { probs: readonly number[] };

/** One labelled, classified slice: a row of the metrics. */
export interface EvalRow {
  sopInstanceUid: string;
  seriesUid: string;
  z: number | null;
  file: string;
  y: number[];
  p: number[];
}

export interface Coverage {
  n_files: number;
  n_slices_evaluated: number;
  n_series_evaluated: number;
  /** Files that are not readable DICOM. */
  unreadable: Array<{ file: string; reason: string }>;
  /** DICOM files not classified by design (not a CT image, say). */
  not_classified: Array<{ file: string; sop_instance_uid: string; reason: string }>;
  /** Slices the model could not classify (decode or preprocessing errors). */
  failed: Array<{ file: string; sop_instance_uid: string; error: string }>;
  /** Files repeating a SOP Instance UID already seen: only the first counts. */
  duplicate_files: Array<{ file: string; sop_instance_uid: string }>;
  n_unlabelled: number;
  n_labels_without_slice: number;
  /** Classified slices without a label: not in the metrics. */
  unlabelled: Array<{ file: string; sop_instance_uid: string; series_instance_uid: string }>;
  /** Labels whose SOP Instance UID is on no file. */
  labels_without_slice: string[];
  labels_format: LabelTable['format'];
  label_duplicates_dropped: number;
}

export interface EvalDataset {
  rows: EvalRow[];
  /** Every classified slice once, labelled or not, in file order. */
  classified: ClassifiedSlice[];
  coverage: Coverage;
}

/**
 * Rows ordered by series (first seen) then z, as the node orders a series; the order changes no
 * metric but makes predictions.csv and the report stable.
 */
export function joinLabels(
  slices: readonly EvalSlice[],
  unreadable: ReadonlyArray<{ file: string; reason: string }>,
  labels: LabelTable,
): EvalDataset {
  const coverage: Coverage = {
    n_files: slices.length + unreadable.length,
    n_slices_evaluated: 0,
    n_series_evaluated: 0,
    n_unlabelled: 0,
    n_labels_without_slice: 0,
    unreadable: unreadable.map((u) => ({ file: u.file, reason: u.reason })),
    not_classified: [],
    failed: [],
    duplicate_files: [],
    unlabelled: [],
    labels_without_slice: [],
    labels_format: labels.format,
    label_duplicates_dropped: labels.duplicatesDropped,
  };
  const seen = new Set<string>();
  const rows: EvalRow[] = [];
  const classified: ClassifiedSlice[] = [];
  for (const s of slices) {
    if (seen.has(s.sopInstanceUid)) {
      coverage.duplicate_files.push({ file: s.file, sop_instance_uid: s.sopInstanceUid });
      continue;
    }
    seen.add(s.sopInstanceUid);
    if (s.skipReason !== null) coverage.not_classified.push({ file: s.file, sop_instance_uid: s.sopInstanceUid, reason: s.skipReason });
    else if (s.probs === null) coverage.failed.push({ file: s.file, sop_instance_uid: s.sopInstanceUid, error: s.error ?? 'no probabilities' });
    else {
      classified.push({ ...s, probs: s.probs });
      const y = labels.bySop.get(s.sopInstanceUid);
      if (y === undefined) coverage.unlabelled.push({ file: s.file, sop_instance_uid: s.sopInstanceUid, series_instance_uid: s.seriesUid });
      else rows.push({ sopInstanceUid: s.sopInstanceUid, seriesUid: s.seriesUid, z: s.z, file: s.file, y: [...y], p: [...s.probs] });
    }
  }
  coverage.labels_without_slice = [...labels.bySop.keys()].filter((sop) => !seen.has(sop));
  const seriesOrder = new Map<string, number>();
  for (const r of rows) if (!seriesOrder.has(r.seriesUid)) seriesOrder.set(r.seriesUid, seriesOrder.size);
  rows.sort((a, b) => seriesOrder.get(a.seriesUid)! - seriesOrder.get(b.seriesUid)! || (a.z ?? 0) - (b.z ?? 0));
  coverage.n_unlabelled = coverage.unlabelled.length;
  coverage.n_labels_without_slice = coverage.labels_without_slice.length;
  coverage.n_slices_evaluated = rows.length;
  coverage.n_series_evaluated = seriesOrder.size;
  return { rows, classified, coverage };
}
