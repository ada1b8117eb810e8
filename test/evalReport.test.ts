import { describe, expect, it } from 'vitest';
import { progressLine, progressReporter } from '../src/eval/progress.js';
import { suggestThresholds } from '../src/eval/suggest.js';
import { worstCases } from '../src/eval/worst.js';
import { nodeDecisions } from '../src/eval/decisions.js';
import { prCurve, rocCurve } from '../src/eval/curves.js';
import { lineChart, polylinePoints } from '../src/eval/svg.js';
import { buildReport, predictionsCsv, type ReportInput } from '../src/eval/report.js';
import { renderHtml } from '../src/eval/html.js';
import { parseLabels } from '../src/eval/labels.js';
import type { EvalRow, EvalSlice } from '../src/eval/dataset.js';
import type { SeriesOutcome } from '../src/series/decide.js';
import type { SeriesResult } from '../src/series/result.js';
import { sampleRunInfo } from './evalHelpers.js';

const classes = ['any', 'subdural'];
const row = (sop: string, series: string, y: number[], p: number[]): EvalRow => ({ sopInstanceUid: sop, seriesUid: series, z: 0, file: `/d/${sop}.dcm`, y, p });

describe('eval report parts', () => {
  it('draws a progress bar with rate and time left', () => {
    expect(progressLine(45, 100, 3000)).toBe('[##############----------------]  45/100 slices  45%  15.0/s ETA 4s');
    expect(progressLine(100, 100, 4000)).toBe('[##############################] 100/100 slices 100%  25.0/s');
    const tty: string[] = [];
    const log: string[] = [];
    let t = 0;
    const onTty = progressReporter({ isTTY: true, write: (s) => tty.push(s) }, () => t);
    const onLog = progressReporter({ write: (s) => log.push(s) }, () => t);
    for (let done = 0; done <= 40; done++, t += 100) {
      onTty(done, 40);
      onLog(done, 40);
    }
    expect(tty).toHaveLength(41);
    expect(tty[40]).toMatch(/^\r\[#+\] 40\/40 slices 100%.*\n$/);
    expect(log).toHaveLength(11); // one line per tenth
  });

  it('suggests a model.thresholds block, keeping the threshold in force where no score reaches the target', () => {
    const s = suggestThresholds({ any: { threshold: 0.0123456789 }, subdural: { threshold: null } }, 'precision', 0.7, { any: 0.5, subdural: 0.4 }, classes, 120);
    expect(s.thresholds).toEqual({ any: 0.0123456789, subdural: 0.4 });
    expect(s.kept).toEqual(['subdural']);
    expect(s.yaml).toBe(
      [
        '# precision >= 0.7 per class on 120 labelled slices (ich-triage eval)',
        'model:',
        '  thresholds:',
        '    any: 0.0123456789',
        '    subdural: 0.4    # no score reaches precision 0.7: threshold in force kept',
        '',
      ].join('\n'),
    );
  });

  const rows = [row('a', 's1', [1, 1], [0.1, 0.9]), row('b', 's1', [1, 0], [0.3, 0.6]), row('c', 's2', [0, 0], [0.8, 0.2]), row('d', 's2', [0, 0], [0.6, 0.1]), row('e', 's3', [1, 1], [0.7, 0.8])];

  it('lists the most confident misses first', () => {
    const w = worstCases(rows, classes, { any: 0.5, subdural: 0.5 }, 10);
    expect(w['any']!.false_negatives.map((m) => [m.sop_instance_uid, m.probability])).toEqual([
      ['a', 0.1],
      ['b', 0.3],
    ]);
    expect(w['any']!.false_positives.map((m) => m.sop_instance_uid)).toEqual(['c', 'd']);
    expect(w['subdural']!.false_positives.map((m) => m.sop_instance_uid)).toEqual(['b']);
    expect(worstCases(rows, classes, { any: 0.5, subdural: 0.5 }, 1)['any']!.false_negatives).toHaveLength(1);
  });

  it("scores the node's own series decisions against the series labels", () => {
    const decided = (seriesUid: string, flagged: string[], scores: Record<string, number>): { seriesUid: string; outcome: SeriesOutcome } => ({
      seriesUid,
      outcome: { kind: 'decided', result: { flagged, scores, decision: flagged.length ? 'urgent' : 'negative' } as unknown as SeriesResult },
    });
    const d = nodeDecisions(
      rows,
      [decided('s1', ['any'], { any: 0.5, subdural: 0.3 }), decided('s2', ['any'], { any: 0.7, subdural: 0.1 }), { seriesUid: 's3', outcome: { kind: 'skipped', reason: 'only 1 slice' } }, decided('unlabelled', [], { any: 0, subdural: 0 })],
      classes,
    );
    expect(d.n_decided).toBe(2);
    expect(d.skipped).toEqual([{ series_instance_uid: 's3', reason: 'only 1 slice' }]);
    expect(d.urgent).toMatchObject({ tp: 1, fp: 1, fn: 0, tn: 0 });
    expect(d.flagged['subdural']).toMatchObject({ tp: 0, fn: 1, fp: 0, tn: 1 });
    expect(d.roc_auc).toEqual({ any: 0, subdural: 1 }); // the positive series s1 scored 0.5, the negative s2 0.7
  });

  it('draws curves from the metric counts, as compact SVG', () => {
    const y = [1, 0, 1, 0];
    const p = [0.9, 0.8, 0.4, 0.1];
    expect(rocCurve(y, p)).toEqual([
      { x: 0, y: 0 },
      { x: 0, y: 0.5 },
      { x: 0.5, y: 0.5 },
      { x: 0.5, y: 1 },
      { x: 1, y: 1 },
    ]);
    expect(prCurve(y, p)).toEqual([
      { x: 0.5, y: 1 },
      { x: 0.5, y: 0.5 },
      { x: 1, y: 2 / 3 },
      { x: 1, y: 0.5 },
    ]);
    expect(rocCurve([1, 1], [0.2, 0.3])).toBeNull();
    expect(polylinePoints([{ x: 0, y: 0 }, { x: 0, y: 0.00001 }, { x: 1, y: 1 }])).toBe('44.0,210.0 268.0,26.0');
    const svg = lineChart({ title: 'a<b', xLabel: 'x', yLabel: 'y', points: null, empty: 'only one label value' });
    expect(svg).toContain('a&#60;b');
    expect(svg).toContain('only one label value');
    expect(svg).not.toContain('<polyline');
  });

  it('builds the report and a self-contained HTML page from it', () => {
    const slices: EvalSlice[] = rows.map((r) => ({ file: r.file, sopInstanceUid: r.sopInstanceUid, seriesUid: r.seriesUid, z: r.z, probs: r.p, skipReason: null, error: null }));
    slices.push({ file: '/d/sr.dcm', sopInstanceUid: 'sr', seriesUid: 's9', z: null, probs: null, skipReason: 'not a CT image', error: null });
    slices.push({ file: '/d/a-copy.dcm', sopInstanceUid: 'a', seriesUid: 's1', z: 0, probs: [0, 0], skipReason: null, error: null });
    const labels = parseLabels('sop_instance_uid,any,subdural\na,1,1\nb,1,0\nc,0,0\nd,0,0\ne,1,1\n', classes, 'l.csv');
    const input: ReportInput = {
      slices,
      unreadable: [{ file: '/d/notes.txt', reason: 'not DICOM' }],
      outcomes: [],
      labels,
      classes,
      thresholds: { any: 0.5, subdural: 0.5 },
      precisionTarget: 0.7,
      recallTarget: 0.9,
      suggestBy: 'recall',
      worstLimit: 3,
      run: sampleRunInfo(classes),
    };
    const { report, rows: evaluated, classified } = buildReport(input);
    expect(report.coverage).toMatchObject({ n_files: 8, n_slices_evaluated: 5, n_series_evaluated: 3, duplicate_files: [{ file: '/d/a-copy.dcm', sop_instance_uid: 'a' }] });
    expect(report.coverage.not_classified).toEqual([{ file: '/d/sr.dcm', sop_instance_uid: 'sr', reason: 'not a CT image' }]);
    expect(report.suggested_thresholds.by).toBe('recall');
    expect(report.suggested_thresholds.thresholds).toEqual({ any: 0.1, subdural: 0.8 }); // highest scores keeping recall >= 0.9
    expect(predictionsCsv(classified, classes).split('\n').slice(0, 2)).toEqual(['sop_instance_uid,series_instance_uid,z,any,subdural,file', 'a,s1,0,0.1,0.9,/d/a.dcm']);

    const html = renderHtml(report, evaluated);
    expect(html.match(/<svg /g)).toHaveLength(4); // PR and ROC per class
    expect(html.match(/<polyline /g)).toHaveLength(4);
    expect(html).toContain('/m/&#60;tiny&#62;.onnx');
    expect(html).toContain(`sha256 ${'ab'.repeat(32)}`);
    expect(html).toContain('test model, not for clinical use');
    expect(html).toContain('subdural: 0.8');
    // Self-contained: no scripts, no links or sources outside the page.
    expect(html).not.toMatch(/<script|<link|src=|href=|url\(/i);
    expect([...html.matchAll(/https?:\/\/[^"]*/g)].map((m) => m[0])).toEqual(Array(4).fill('http://www.w3.org/2000/svg'));
  });

  it('refuses when no classified slice has a label', () => {
    const labels = parseLabels('sop_instance_uid,any,subdural\nzzz,1,1\n', classes, 'l.csv');
    const slices: EvalSlice[] = [{ file: '/d/a.dcm', sopInstanceUid: 'a', seriesUid: 's', z: 0, probs: [0.1, 0.2], skipReason: null, error: null }];
    expect(() => buildReport({ slices, unreadable: [], outcomes: [], labels, classes, thresholds: { any: 0.5, subdural: 0.5 }, precisionTarget: 0.7, recallTarget: 0.9, suggestBy: 'precision', worstLimit: 1, run: { labels_file: 'l.csv' } as ReportInput['run'] })).toThrow(
      /l.csv: no classified slice has a label \(1 DICOM files read, 1 images labelled\)/,
    );
  });
});
