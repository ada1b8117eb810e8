// `ich-triage eval` end to end: the built CLI runs the real inference workers over labelled
// phantom series (known bleeds), and its numbers are checked by hand where they follow from the
// labels alone, against `classify` for the probabilities, and against the training tool's eval.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ImplicitVRLittleEndian, SecondaryCaptureStorage, syntheticSeries, syntheticSlice, writeSlices, type Slice } from './helpers/synthetic.js';
import { mainJs, tinyModel } from './helpers/daemon.js';
import { parseCsv } from '../src/eval/csv.js';
import { compareShared, pythonEvalMissing, rsnaClasses, runPythonEval } from './evalHelpers.js';

const run = promisify(execFile);
const classes = rsnaClasses;

interface Labelled {
  slice: Slice;
  y: number[];
}

/** Four series of ten slices: two with a bleed on some slices, two without; two encodings. */
function phantoms(): Labelled[][] {
  const label = (...names: string[]) => classes.map((c) => (names.includes(c) ? 1 : 0));
  const parenchymal = (i: number) => i >= 3 && i <= 6;
  const subdural = (i: number) => i >= 2 && i <= 8;
  return [
    syntheticSeries({ slices: 10, rows: 96, columns: 96, bleed: { x: 0.6, y: 0.45, radius: 0.12, hu: 70 }, bleedSlices: parenchymal }).map((slice, i) => ({
      slice,
      y: parenchymal(i) ? label('any', 'intraparenchymal') : label(),
    })),
    syntheticSeries({ slices: 10, rows: 96, columns: 96, encoding: 'int16', transferSyntax: ImplicitVRLittleEndian }).map((slice) => ({ slice, y: label() })),
    syntheticSeries({ slices: 10, rows: 96, columns: 96, encoding: 'int16', bleed: { x: 0.3, y: 0.5, radius: 0.1, hu: 65 }, bleedSlices: subdural }).map((slice, i) => ({
      slice,
      y: subdural(i) ? label('any', 'subdural') : label(),
    })),
    syntheticSeries({ slices: 10, rows: 96, columns: 96 }).map((slice) => ({ slice, y: label() })),
  ];
}

describe('ich-triage eval (built CLI, real inference workers)', () => {
  let dir: string;
  let dicom: string;
  let out: string;
  let series: Labelled[][];
  let unlabelled: Slice;
  let longLabels: string;
  let wideLabels: string;
  let json: any;
  let stderr: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'eval-cmd-'));
    dicom = path.join(dir, 'dicom');
    out = path.join(dir, 'out');
    series = phantoms();
    series.forEach((s, k) => writeSlices(path.join(dicom, `series${k}`), s.map((l) => l.slice)));
    writeSlices(path.join(dicom, 'other'), [syntheticSlice({ sopClassUid: SecondaryCaptureStorage })], 'sc');
    writeFileSync(path.join(dicom, 'other', 'notes.txt'), 'not DICOM');
    const labelled = series.flat();
    unlabelled = labelled.pop()!.slice; // the last slice of the last series has no label
    const ghost = { sop: '2.25.404', y: classes.map(() => 0) };
    const rows = [...labelled.map((l) => ({ sop: l.slice.sopInstanceUid, y: l.y })), ghost];
    longLabels = path.join(dir, 'stage_2_train.csv');
    writeFileSync(
      longLabels,
      ['ID,Label', ...rows.flatMap((r) => classes.map((c, i) => `${r.sop}_${c},${r.y[i]}`)), `${rows[0]!.sop}_any,1`].join('\n') + '\n', // the last row repeats an ID
    );
    wideLabels = path.join(dir, 'labels.csv');
    writeFileSync(wideLabels, [`sop_instance_uid,${classes.join(',')}`, ...rows.map((r) => `${r.sop},${r.y.join(',')}`)].join('\n') + '\n');
    const config = path.join(dir, 'ich-triage.yaml');
    writeFileSync(config, `model:\n  path: ${tinyModel}\n  threads: 2\n  thresholds: {any: 0.3}\n`);
    const result = await run(
      process.execPath,
      [mainJs, 'eval', '--config', config, '--dicom', dicom, '--labels', longLabels, '--out', out, '--json', '--progress', '--precision', '0.6', '--recall', '0.8', '--worst', '3'],
      { maxBuffer: 64 << 20 },
    );
    json = JSON.parse(result.stdout);
    stderr = result.stderr;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the JSON it writes, and shows progress', () => {
    expect(JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8'))).toEqual(json);
    expect(stderr).toMatch(/\[#{30}\] 40\/40 slices 100%/);
  });

  it('accounts for every file and every label', () => {
    expect(json.n_images).toBe(39);
    expect(json.coverage).toMatchObject({
      n_files: 42,
      n_slices_evaluated: 39,
      n_series_evaluated: 4,
      n_unlabelled: 1,
      n_labels_without_slice: 1,
      labels_format: 'rsna-long',
      label_duplicates_dropped: 1,
      labels_without_slice: ['2.25.404'],
      failed: [],
      duplicate_files: [],
    });
    expect(json.coverage.unlabelled.map((u: any) => u.sop_instance_uid)).toEqual([unlabelled.sopInstanceUid]);
    expect(json.coverage.unreadable.map((u: any) => path.basename(u.file))).toEqual(['notes.txt']);
    expect(json.coverage.not_classified).toHaveLength(1);
    expect(json.coverage.not_classified[0].reason).toMatch(/not classified \(CT Image Storage only\)/);
  });

  it('gives the label-only numbers the phantoms imply', () => {
    // 4 intraparenchymal + 7 subdural slices of 39; 2 of 4 series bleed
    expect(json.prevalence).toEqual({ any: 11 / 39, epidural: 0, intraparenchymal: 4 / 39, intraventricular: 0, subarachnoid: 0, subdural: 7 / 39 });
    expect(json.series.n_series).toBe(4);
    expect(json.series.prevalence).toEqual({ any: 0.5, epidural: 0, intraparenchymal: 0.25, intraventricular: 0, subarachnoid: 0, subdural: 0.25 });
    for (const c of classes) {
      const m = json.at_0_5[c];
      expect(m.tp + m.fn, c).toBe(Math.round(json.prevalence[c] * 39));
      expect(m.tp + m.fp + m.fn + m.tn, c).toBe(39);
    }
    expect(json.roc_auc.epidural).toBeNull();
    expect(json.at_precision.target).toBe(0.6);
    expect(json.at_recall.target).toBe(0.8);
    expect(json.any_sweep).toHaveLength(10);
  });

  it('records the model, the config and the thresholds in force', () => {
    expect(json.run.model.sha256).toBe(createHash('sha256').update(readFileSync(tinyModel)).digest('hex'));
    expect(json.run.model).toMatchObject({ path: tinyModel, name: 'tiny-ich', input_size: 64, demo: true });
    expect(json.run.config.threshold_overrides).toEqual({ any: 0.3 });
    expect(json.at_thresholds.thresholds).toEqual({ any: 0.3, epidural: 0.5, intraparenchymal: 0.5, intraventricular: 0.5, subarachnoid: 0.5, subdural: 0.5 });
    expect(json.node_decisions.n_decided).toBe(4);
    for (const c of classes) {
      expect(json.worst[c].false_negatives.length).toBeLessThanOrEqual(3);
      expect(json.worst[c].threshold).toBe(json.at_thresholds.thresholds[c]);
    }
    expect(json.suggested_thresholds.yaml).toMatch(/^# precision >= 0.6 per class on 39 labelled slices/);
    const html = readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html.match(/<svg /g)).toHaveLength(12);
    expect(html).toContain(json.run.model.sha256);
  });

  it("writes the same probabilities as `classify`, the node's own path", async () => {
    const classified = JSON.parse((await run(process.execPath, [mainJs, 'classify', dicom, '--model', tinyModel, '--json'], { maxBuffer: 64 << 20 }).catch((e) => e)).stdout);
    const expected = new Map<string, number[]>(classified.slices.filter((s: any) => s.probs).map((s: any) => [s.sopInstanceUid, s.probs]));
    const [header, ...rows] = parseCsv(readFileSync(path.join(out, 'predictions.csv'), 'utf8'));
    expect(header).toEqual(['sop_instance_uid', 'series_instance_uid', 'z', ...classes, 'file']);
    expect(rows).toHaveLength(40);
    for (const r of rows) expect(r.slice(3, 9).map(Number)).toEqual(expected.get(r[0]!));
  });

  it('reads wide labels too and prints a summary with the suggested block', async () => {
    const { stdout } = await run(process.execPath, [mainJs, 'eval', '--dicom', dicom, '--labels', wideLabels, '--model', tinyModel, '--suggest', 'recall']);
    expect(stdout).toMatch(/^39 labelled slices in 4 series evaluated\. Left out: 1 slices without a label, 1 labels without a slice; of 42 files 1 unreadable, 1 not classified/);
    expect(stdout).toMatch(/# recall >= 0.9 per class on 39 labelled slices \(ich-triage eval\)\nmodel:\n {2}thresholds:\n {4}any: /);
  });

  it.skipIf(pythonEvalMissing() !== null)("agrees with the training tool's eval on the node's predictions", () => {
    const py = runPythonEval(path.join(out, 'predictions.csv'), longLabels, path.join(dir, 'py'), 0.6, 0.8);
    const agreement = compareShared(py, json);
    expect(agreement.mismatches).toEqual([]);
    expect(agreement.numbers).toBeGreaterThan(200);
    expect(agreement.maxDiff).toBeLessThan(1e-9);
    expect(agreement.maxDiffExact).toBeLessThan(1e-15); // pandas may read a probability 1 ulp off
    console.info(`python eval agreement (phantoms through the engine): ${agreement.numbers} numbers, max abs difference ${agreement.maxDiff} at ${agreement.maxDiffAt}, ${agreement.maxDiffExact} outside the log losses`);
  });
});
