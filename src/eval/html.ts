/**
 * The self-contained HTML report of `ich-triage eval`: one file with inline CSS and SVG, no
 * scripts, nothing fetched, so it opens offline and can be archived with the validation record.
 */
import type { Confusion, PerClass } from './metrics.js';
import type { EvalRow } from './dataset.js';
import type { AtThresholds } from './evaluate.js';
import type { EvalReport } from './report.js';
import { column } from './metrics.js';
import { prCurve, rocCurve } from './curves.js';
import { escapeXml as esc, lineChart } from './svg.js';

/** Lists longer than this show their head; metrics.json has them whole. */
const listLimit = 200;

const css = `
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
.kv td{text-align:left}.warn{background:#fff3cd;border:1px solid #e0b400;padding:8px;margin:8px 0}
.charts{display:flex;flex-wrap:wrap;gap:4px}.mono,pre{font-family:ui-monospace,monospace;font-size:12px}
pre{background:#f6f6f6;padding:8px;overflow-x:auto}
svg text{font:11px system-ui,sans-serif;fill:#333}svg .title{font-weight:600;font-size:12px}
svg .frame{fill:#fff;stroke:#888}svg .grid{stroke:#e4e4e4}svg .chance{stroke:#aaa;stroke-dasharray:4 3}
svg .curve{fill:none;stroke:#1f77b4;stroke-width:2}svg .marker{fill:#d62728}svg .empty{fill:#999}
`;

function num(n: number | null | undefined, digits = 3): string {
  return n === null || n === undefined ? 'n/a' : n.toFixed(digits);
}

/** Thresholds can be tiny (0.008 in the paper): four significant digits. */
function thr(n: number | null | undefined): string {
  return n === null || n === undefined ? 'n/a' : String(Number(n.toPrecision(4)));
}

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  return `<table><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</table>`;
}

function perClassTable(classes: readonly string[], perClass: PerClass<Confusion>, extra: Array<[string, (c: string) => string]> = []): string {
  const metric = (key: keyof Confusion, digits: number) => [key, ...classes.map((c) => num(perClass[c]![key], digits))];
  return table(
    ['metric', ...classes],
    [
      metric('accuracy', 3),
      metric('precision', 3),
      metric('recall', 3),
      metric('specificity', 3),
      ...(['tp', 'fp', 'fn', 'tn'] as const).map((k) => metric(k, 0)),
      ...extra.map(([name, f]) => [name, ...classes.map(f)]),
    ],
  );
}

function atThresholdsSection(classes: readonly string[], at: AtThresholds): string {
  return perClassTable(classes, at.per_class, [['threshold', (c) => thr(at.thresholds[c])]]) + `<p>Per-image exact match at these thresholds: <b>${num(at.exact_match_accuracy)}</b>.</p>`;
}

function anyTable(both: { predicted: Confusion; explicit: Confusion }): string {
  return table(
    ['metric', '"any" predicted', '"any" explicit (OR of subtypes)'],
    (['accuracy', 'recall', 'precision', 'specificity'] as const).map((k) => [k, num(both.predicted[k]), num(both.explicit[k])]),
  );
}

function charts(r: EvalReport, rows: readonly EvalRow[]): string {
  return r.classes
    .map((c, i) => {
      const y = rows.map((row) => row.y[i]!);
      const p = column(
        rows.map((row) => row.p),
        i,
      );
      const at = r.at_thresholds.per_class[c]!;
      const auc = r.roc_auc[c];
      return (
        lineChart({ title: `${c}: precision-recall`, xLabel: 'recall', yLabel: 'precision', points: prCurve(y, p), empty: 'no positive slice', marker: { x: at.recall, y: at.precision } }) +
        lineChart({
          title: `${c}: ROC, AUC ${num(auc)}`,
          xLabel: 'false positive rate',
          yLabel: 'true positive rate',
          points: rocCurve(y, p),
          empty: 'only one label value',
          marker: { x: 1 - at.specificity, y: at.recall },
          diagonal: true,
        })
      );
    })
    .join('');
}

function list<T>(title: string, items: readonly T[], row: (t: T) => string[], headers: string[]): string {
  if (items.length === 0) return `<p>${esc(title)}: none.</p>`;
  const more = items.length > listLimit ? `<p>... and ${items.length - listLimit} more (metrics.json lists all).</p>` : '';
  return `<details><summary>${esc(title)}: ${items.length}</summary>${table(headers, items.slice(0, listLimit).map((t) => row(t).map(esc)))}${more}</details>`;
}

export function renderHtml(r: EvalReport, rows: readonly EvalRow[]): string {
  const classes = r.classes;
  const m = r.run.model;
  const cov = r.coverage;
  const s = r.series;
  const nd = r.node_decisions;
  const opTable = (block: EvalReport['at_precision']) =>
    table(
      ['metric', ...classes],
      [
        ['threshold', ...classes.map((c) => thr(block.per_class[c]!.threshold))],
        ...(['precision', 'recall', 'accuracy', 'specificity'] as const).map((k) => [k, ...classes.map((c) => num(block.per_class[c]![k]))]),
      ],
    );
  const worst = classes
    .map((c) => {
      const w = r.worst[c]!;
      const rowsOf = (items: typeof w.false_negatives) => items.map((x) => [`<span class="mono">${esc(x.sop_instance_uid)}</span>`, num(x.probability, 4), `<span class="mono">${esc(x.series_instance_uid)}</span>`]);
      return `<h3>${esc(c)} (threshold ${thr(w.threshold)})</h3>${
        w.false_negatives.length ? table(['false negative: SOP Instance UID', 'probability', 'series'], rowsOf(w.false_negatives)) : '<p>No false negatives.</p>'
      }${w.false_positives.length ? table(['false positive: SOP Instance UID', 'probability', 'series'], rowsOf(w.false_positives)) : '<p>No false positives.</p>'}`;
    })
    .join('');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ich-triage eval: ${esc(m.name)} ${esc(m.version)}</title><style>${css}</style></head><body>
<h1>ich-triage eval: ${esc(m.name)} ${esc(m.version)}</h1>
<p>${r.n_images} labelled slices in ${s?.n_series ?? 0} series, ${esc(r.run.created_at)}.</p>
${m.demo ? `<div class="warn">This model's intended use says: ${esc(m.intended_use)}</div>` : ''}
<table class="kv">
<tr><td>DICOM folder</td><td class="mono">${esc(r.run.dicom_dir)}</td></tr>
<tr><td>labels</td><td class="mono">${esc(r.run.labels_file)} (${esc(cov.labels_format)})</td></tr>
<tr><td>model</td><td class="mono">${esc(m.path)}<br>sha256 ${esc(m.sha256)}</td></tr>
<tr><td>architecture, input</td><td>${esc(m.architecture)}, ${m.input_size} px, windows ${esc(m.windows.map((w) => `${w.name} ${w.center}/${w.width}`).join(', '))}</td></tr>
<tr><td>config</td><td class="mono">${esc(r.run.config.file)}</td></tr>
<tr><td>thresholds in force</td><td>${classes.map((c) => `${esc(c)} ${thr(r.at_thresholds.thresholds[c])}${r.run.config.threshold_overrides[c] !== undefined ? ' (config)' : ''}`).join(', ')}</td></tr>
<tr><td>series smoothing, selection</td><td>${esc(JSON.stringify(r.run.config.smoothing))}; <span class="mono">${esc(JSON.stringify(r.run.config.selection))}</span></td></tr>
<tr><td>engine</td><td>${esc(r.run.engine.provider)}, ${r.run.engine.workers} workers, batch ${r.run.engine.batch_size}; ${num(r.run.seconds, 1)} s; ich-triage ${esc(r.run.software_version)}</td></tr>
</table>

<h2>Summary</h2>
${table(
  ['', ...classes],
  [
    ['prevalence', ...classes.map((c) => num(r.prevalence[c]))],
    ['ROC AUC', ...classes.map((c) => num(r.roc_auc[c]))],
    ['log loss', ...classes.map((c) => num(r.log_loss[c], 4))],
    ['series ROC AUC (max over slices)', ...classes.map((c) => num(s?.roc_auc[c]))],
  ],
)}
<p>RSNA weighted log loss <b>${num(r.weighted_log_loss, 4)}</b>; per-image exact match at 0.5 <b>${num(r.exact_match_accuracy)}</b>.</p>

<h2>Precision-recall and ROC curves per slice</h2>
<p>The red dot is the operating point at the thresholds in force.</p>
<div class="charts">${charts(r, rows)}</div>

<h2>Per class at threshold 0.5 (paper Table II)</h2>
${perClassTable(classes, r.at_0_5)}
<h2>Per class at the thresholds in force</h2>
${atThresholdsSection(classes, r.at_thresholds)}

<h2>"any": predicted vs OR of subtypes (Table III)</h2>
<p>At 0.5:</p>${anyTable(r.any_predicted_vs_explicit)}
<p>At the thresholds in force:</p>${anyTable(r.at_thresholds.any_predicted_vs_explicit)}

<h2>"any" threshold sweep (Table IV)</h2>
${table(
  ['target precision', 'threshold', 'precision', 'recall', 'accuracy'],
  r.any_sweep.map((row) => [num(row.target_precision, 2), thr(row.threshold), num(row.precision), num(row.recall), num(row.accuracy)]),
)}

<h2>Per-class thresholds at precision ${r.at_precision.target} (Table V)</h2>
${opTable(r.at_precision)}
<h2>Per-class thresholds at recall ${r.at_recall.target}</h2>
${opTable(r.at_recall)}

<h2>Suggested config block</h2>
<pre>${esc(r.suggested_thresholds.yaml)}</pre>

<h2>Per series</h2>
<p>Series label and probability: the maximum over the series' labelled slices (as the training tool computes them).</p>
${s ? `<p>At 0.5:</p>${perClassTable(classes, s.at_0_5)}<p>At the thresholds in force:</p>${atThresholdsSection(classes, s.at_thresholds)}` : ''}
<h3>The node's own decisions</h3>
<p>z-smoothing ${esc(JSON.stringify(r.run.config.smoothing))}, maximum per class, thresholds in force, series selection rules: ${nd.n_decided} series decided, ${nd.skipped.length} skipped.</p>
${perClassTable(classes, nd.flagged, [['ROC AUC (node score)', (c) => num(nd.roc_auc[c])]])}
<p>"urgent" against the series' "any" label: recall ${num(nd.urgent.recall)}, precision ${num(nd.urgent.precision)}, specificity ${num(nd.urgent.specificity)} (TP ${nd.urgent.tp}, FP ${nd.urgent.fp}, FN ${nd.urgent.fn}, TN ${nd.urgent.tn}).</p>
${list('Series the node would skip', nd.skipped, (x) => [x.series_instance_uid, x.reason], ['series', 'reason'])}

<h2>Worst false negatives and false positives (thresholds in force)</h2>
${worst}

<h2>What is not in the metrics</h2>
<p>${cov.n_files} files read; ${cov.n_slices_evaluated} slices in ${cov.n_series_evaluated} series evaluated.</p>
${list('Slices without a label', cov.unlabelled, (x) => [x.sop_instance_uid, x.file], ['SOP Instance UID', 'file'])}
${list('Labels without a slice', cov.labels_without_slice, (x) => [x], ['SOP Instance UID'])}
${list('Unreadable files', cov.unreadable, (x) => [x.file, x.reason], ['file', 'reason'])}
${list('DICOM files not classified', cov.not_classified, (x) => [x.sop_instance_uid, x.file, x.reason], ['SOP Instance UID', 'file', 'reason'])}
${list('Slices that failed', cov.failed, (x) => [x.sop_instance_uid, x.file, x.error], ['SOP Instance UID', 'file', 'error'])}
${list('Files repeating a SOP Instance UID', cov.duplicate_files, (x) => [x.sop_instance_uid, x.file], ['SOP Instance UID', 'file'])}
<p>Duplicate label rows dropped: ${cov.label_duplicates_dropped}.</p>
</body></html>
`;
}
