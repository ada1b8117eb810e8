/**
 * The whole result of `ich-triage eval` as one JSON-able object (metrics.json, `--json`), built
 * from the classified slices, the node's series outcomes and the labels. Pure: the command does
 * the I/O, `html.ts` renders the same object.
 */
import type { SeriesOutcome } from '../series/decide.js';
import { joinLabels, type ClassifiedSlice, type Coverage, type EvalRow, type EvalSlice } from './dataset.js';
import { nodeDecisions, type NodeDecisions } from './decisions.js';
import { evaluate, type Metrics } from './evaluate.js';
import type { LabelTable } from './labels.js';
import { suggestThresholds, type SuggestedThresholds } from './suggest.js';
import { worstCases, type WorstCases } from './worst.js';
import { csvLine } from './csv.js';
import { IchError } from '../errors.js';

/** Where the numbers come from: enough to reproduce the run. */
export interface RunInfo {
  created_at: string;
  software_version: string;
  dicom_dir: string;
  labels_file: string;
  model: {
    path: string;
    sha256: string;
    name: string;
    version: string;
    architecture: string;
    intended_use: string;
    demo: boolean;
    input_size: number;
    windows: Array<{ name: string; center: number; width: number }>;
    /** The model's own operating points (ich.thresholds). */
    thresholds: Record<string, number>;
  };
  config: {
    file: string;
    /** model.thresholds of the config, applied over the model's. */
    threshold_overrides: Record<string, number>;
    smoothing: number[] | 'none';
    selection: unknown;
  };
  engine: { provider: string; workers: number; batch_size: number };
  seconds: number;
}

export interface EvalReport extends Metrics {
  node_decisions: NodeDecisions;
  suggested_thresholds: SuggestedThresholds;
  worst: Record<string, WorstCases>;
  coverage: Coverage;
  run: RunInfo;
}

export interface ReportInput {
  slices: readonly EvalSlice[];
  unreadable: ReadonlyArray<{ file: string; reason: string }>;
  outcomes: ReadonlyArray<{ seriesUid: string; outcome: SeriesOutcome }>;
  labels: LabelTable;
  classes: readonly string[];
  /** Thresholds in force: the model's with the config's overrides. */
  thresholds: Readonly<Record<string, number>>;
  precisionTarget: number;
  recallTarget: number;
  suggestBy: 'precision' | 'recall';
  worstLimit: number;
  run: RunInfo;
}

export function buildReport(input: ReportInput): { report: EvalReport; rows: EvalRow[]; classified: ClassifiedSlice[] } {
  const { rows, classified, coverage } = joinLabels(input.slices, input.unreadable, input.labels);
  if (rows.length === 0) {
    throw new IchError(
      'EVAL_LABELS',
      `${input.run.labels_file}: no classified slice has a label (${input.slices.length} DICOM files read, ${input.labels.bySop.size} images labelled); labels are matched on SOP Instance UID`,
    );
  }
  const metrics = evaluate(
    rows.map((r) => r.y),
    rows.map((r) => r.p),
    input.classes,
    { series: rows.map((r) => r.seriesUid), precisionTarget: input.precisionTarget, recallTarget: input.recallTarget, thresholds: { ...input.thresholds } },
  );
  const points = input.suggestBy === 'precision' ? metrics.at_precision : metrics.at_recall;
  const report: EvalReport = {
    ...metrics,
    node_decisions: nodeDecisions(rows, input.outcomes, input.classes),
    suggested_thresholds: suggestThresholds(points.per_class, input.suggestBy, points.target, input.thresholds, input.classes, rows.length),
    worst: worstCases(rows, input.classes, input.thresholds, input.worstLimit),
    coverage,
    run: input.run,
  };
  return { report, rows, classified };
}

/**
 * predictions.csv in the training tool's input format (`ich_train eval --predictions`): the
 * classified slices, labelled or not; probabilities written as the shortest text that reads back
 * as the same double.
 */
export function predictionsCsv(classified: readonly ClassifiedSlice[], classes: readonly string[]): string {
  const lines = [csvLine(['sop_instance_uid', 'series_instance_uid', 'z', ...classes, 'file'])];
  for (const s of classified) lines.push(csvLine([s.sopInstanceUid, s.seriesUid, s.z === null ? '' : s.z, ...s.probs, s.file]));
  return `${lines.join('\n')}\n`;
}
