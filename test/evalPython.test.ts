// The node's eval and the training tool's eval agree on the same predictions: every number the
// Python tool reports, including the awkward cases (ties across labels, a class without
// positives, probabilities of exactly 0 and 1, duplicated label rows, unlabelled slices).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseLabels } from '../src/eval/labels.js';
import { buildReport, predictionsCsv, type ReportInput } from '../src/eval/report.js';
import { compareShared, pythonEvalMissing, rsnaClasses as classes, runPythonEval, syntheticSlices } from './evalHelpers.js';

describe.skipIf(pythonEvalMissing() !== null)('eval agrees with the training tool', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'eval-py-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the comparison itself catches a changed count and a changed ratio', () => {
    const found = compareShared({ a: { tp: 1, recall: 0.5, auc: null } }, { a: { tp: 2, recall: 0.5 + 1e-8, auc: 0.5 }, extra: 1 });
    expect(found.mismatches).toEqual(['$.a.tp: python 1, node 2', '$.a.recall: python 0.5, node 0.50000001', '$.a.auc: python null, node 0.5']);
  });

  it.each(['wide', 'rsna-long'] as const)('on the same predictions, labels in %s format', (format) => {
    const { slices, labels } = syntheticSlices();
    // The last slice has no label; one label names no slice.
    const rows = labels.slice(0, -1).map((y, i) => ({ sop: slices[i]!.sopInstanceUid, y }));
    rows.push({ sop: '2.25.404', y: [1, 0, 0, 0, 0, 1] });
    const text =
      format === 'wide'
        ? ['sop_instance_uid,' + classes.join(','), ...rows.map((r) => `${r.sop},${r.y.join(',')}`)].join('\n')
        : ['ID,Label', ...rows.flatMap((r) => classes.map((c, i) => `${r.sop}_${c},${r.y[i]}`)), `${rows[0]!.sop}_any,${1 - rows[0]!.y[0]!}`].join('\n');
    const labelsFile = path.join(dir, `labels-${format}.csv`);
    writeFileSync(labelsFile, text);
    const input: ReportInput = {
      slices,
      unreadable: [],
      outcomes: [],
      labels: parseLabels(text, classes, labelsFile),
      classes,
      thresholds: { any: 0.35, epidural: 0.5, intraparenchymal: 0.4, intraventricular: 0.5, subarachnoid: 0.3, subdural: 0.45 },
      precisionTarget: 0.8,
      recallTarget: 0.85,
      suggestBy: 'precision',
      worstLimit: 5,
      run: {} as ReportInput['run'],
    };
    const { report, classified } = buildReport(input);
    expect(report.n_images).toBe(239);
    expect(report.coverage.unlabelled.map((u) => u.sop_instance_uid)).toEqual([slices[239]!.sopInstanceUid]);
    expect(report.coverage.labels_without_slice).toEqual(['2.25.404']);
    expect(report.coverage.label_duplicates_dropped).toBe(format === 'wide' ? 0 : 1);
    expect(report.roc_auc['epidural']).toBeNull(); // no positive
    expect(report.at_recall.per_class['epidural']).toEqual({ threshold: null });

    const predictions = path.join(dir, `predictions-${format}.csv`);
    writeFileSync(predictions, predictionsCsv(classified, classes));
    const py = runPythonEval(predictions, labelsFile, path.join(dir, `py-${format}`), 0.8, 0.85);
    const agreement = compareShared(py, report);
    expect(agreement.mismatches).toEqual([]);
    // per class: prevalence, 8 at 0.5, 2 x 9 at the operating points, AUC, log loss; Table III,
    // the sweep, series: 271 numbers here (nulls where the Python tool has null).
    expect(agreement.numbers).toBe(271);
    expect(agreement.maxDiff).toBeLessThan(1e-12);
    expect(agreement.maxDiffExact).toBeLessThan(1e-15); // pandas may read a probability 1 ulp off
    console.info(`python eval agreement (${format}): ${agreement.numbers} numbers, max abs difference ${agreement.maxDiff} at ${agreement.maxDiffAt}, ${agreement.maxDiffExact} outside the log losses`);
  });
});
