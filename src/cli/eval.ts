import type { CommandModule } from 'yargs';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startModel } from '../inference/model.js';
import { classifyFiles } from '../pipeline/offline.js';
import { IchError } from '../errors.js';
import { softwareVersion } from '../version.js';
import { parseLabels } from '../eval/labels.js';
import { buildReport, predictionsCsv, type EvalReport } from '../eval/report.js';
import { renderHtml } from '../eval/html.js';
import { progressReporter } from '../eval/progress.js';
import { formatTable, fixed } from './table.js';
import { listFiles } from './classify.js';
import { loadConfigOrExample } from './context.js';
import type { GlobalArgs } from './commands.js';

interface EvalArgs extends GlobalArgs {
  dicom: string;
  labels: string;
  out?: string;
  model?: string;
  json: boolean;
  precision: number;
  recall: number;
  suggest: 'precision' | 'recall';
  worst: number;
  progress?: boolean;
}

const target = (name: string) => (v: number) => {
  if (!(v > 0 && v <= 1)) throw new Error(`--${name} must be in (0, 1], got ${v}`);
  return v;
};

export const evalCommand: CommandModule<GlobalArgs, EvalArgs> = {
  command: 'eval',
  describe: "measure the model on labelled DICOM with the node's own preprocessing and inference",
  builder: (y) =>
    y
      .option('dicom', { type: 'string', demandOption: true, describe: 'folder of DICOM files (recursed)' })
      .option('labels', { type: 'string', demandOption: true, describe: 'labels CSV: RSNA long format (ID,Label) or wide (sop_instance_uid + one column per class)' })
      .option('out', { type: 'string', describe: 'write report.html, metrics.json and predictions.csv here' })
      .option('model', { type: 'string', describe: 'ONNX model (default: model.path of the config)' })
      .option('json', { type: 'boolean', default: false, describe: 'print metrics.json on stdout instead of the summary' })
      .option('precision', { type: 'number', default: 0.7, coerce: target('precision'), describe: 'fixed precision for the per-class thresholds (Table V)' })
      .option('recall', { type: 'number', default: 0.9, coerce: target('recall'), describe: 'fixed recall for the per-class thresholds' })
      .option('suggest', { choices: ['precision', 'recall'] as const, default: 'precision' as const, describe: 'which target the suggested model.thresholds block meets' })
      .option('worst', { type: 'number', default: 20, describe: 'false negatives and false positives listed per class' })
      .option('progress', { type: 'boolean', describe: 'progress on stderr (default: when stderr is a terminal)' }),
  handler: async (args) => {
    const started = Date.now();
    const { config, file: configFile } = loadConfigOrExample(args.config);
    const { contract, thresholds, engine } = await startModel(config.model, configFile, args.model);
    try {
      const labels = parseLabels(readLabels(args.labels), contract.classes, args.labels);
      if (!existsSync(args.dicom)) throw new IchError('NOT_FOUND', `--dicom ${args.dicom}: no such file or folder`);
      const files = listFiles(args.dicom);
      const showProgress = args.progress ?? process.stderr.isTTY === true;
      const run = await classifyFiles(
        files,
        engine,
        { classes: contract.classes, thresholds, model: contract.info, series: config.series },
        showProgress ? { onProgress: progressReporter(process.stderr) } : {},
      );
      const { report, rows, classified } = buildReport({
        slices: run.slices,
        unreadable: run.unreadable,
        outcomes: run.series,
        labels,
        classes: contract.classes,
        thresholds,
        precisionTarget: args.precision,
        recallTarget: args.recall,
        suggestBy: args.suggest,
        worstLimit: args.worst,
        run: {
          created_at: new Date(started).toISOString(),
          software_version: softwareVersion,
          dicom_dir: path.resolve(args.dicom),
          labels_file: path.resolve(args.labels),
          model: {
            path: contract.path,
            sha256: contract.sha256,
            name: contract.info.name,
            version: contract.info.version,
            architecture: contract.info.architecture,
            intended_use: contract.info.intendedUse,
            demo: contract.info.demo,
            input_size: contract.input.size,
            windows: contract.input.windows.map((w) => ({ ...w })),
            thresholds: contract.thresholds,
          },
          config: {
            file: configFile,
            threshold_overrides: config.model.thresholds,
            smoothing: config.series.smoothing,
            selection: config.series.selection,
          },
          engine: { provider: engine.status.provider, workers: engine.status.workers, batch_size: engine.status.batchSize },
          seconds: (Date.now() - started) / 1000,
        },
      });
      const json = `${JSON.stringify(report, null, 2)}\n`;
      if (args.out) {
        mkdirSync(args.out, { recursive: true });
        writeFileSync(path.join(args.out, 'metrics.json'), json);
        writeFileSync(path.join(args.out, 'predictions.csv'), predictionsCsv(classified, contract.classes));
        writeFileSync(path.join(args.out, 'report.html'), renderHtml(report, rows));
      }
      process.stdout.write(args.json ? json : summary(report, args.out));
    } finally {
      await engine.close();
    }
  },
};

function readLabels(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new IchError('EVAL_LABELS', `${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

/** The terminal summary: the headline numbers; the report and metrics.json have the rest. */
function summary(r: EvalReport, out: string | undefined): string {
  const c = r.coverage;
  const row = (name: string, f: (cls: string) => string) => [name, ...r.classes.map(f)];
  const lines = [
    `${r.n_images} labelled slices in ${r.series?.n_series ?? 0} series evaluated. Left out: ${c.unlabelled.length} slices without a label, ${c.labels_without_slice.length} labels without a slice; of ${c.n_files} files ${c.unreadable.length} unreadable, ${c.not_classified.length} not classified (not CT images), ${c.failed.length} failed, ${c.duplicate_files.length} repeating a SOP Instance UID.`,
    '',
    formatTable(
      ['metric', ...r.classes],
      [
        row('ROC AUC', (k) => fixed(r.roc_auc[k])),
        row('precision @0.5', (k) => fixed(r.at_0_5[k]!.precision)),
        row('recall @0.5', (k) => fixed(r.at_0_5[k]!.recall)),
        row('threshold in force', (k) => String(r.at_thresholds.thresholds[k])),
        row('precision @in force', (k) => fixed(r.at_thresholds.per_class[k]!.precision)),
        row('recall @in force', (k) => fixed(r.at_thresholds.per_class[k]!.recall)),
        row(`threshold @P${r.at_precision.target}`, (k) => fixed(r.at_precision.per_class[k]!.threshold, 4)),
        row(`recall @P${r.at_precision.target}`, (k) => fixed(r.at_precision.per_class[k]!.recall)),
        row('series ROC AUC', (k) => fixed(r.series?.roc_auc[k])),
      ],
    ),
    '',
    `RSNA weighted log loss ${fixed(r.weighted_log_loss, 4)}; exact match @0.5 ${fixed(r.exact_match_accuracy)}; node decisions: ${r.node_decisions.n_decided} series, urgent recall ${fixed(r.node_decisions.urgent.recall)}, specificity ${fixed(r.node_decisions.urgent.specificity)}`,
    '',
    r.suggested_thresholds.yaml,
    out ? `Report: ${path.join(out, 'report.html')}, metrics.json, predictions.csv` : 'Pass --out DIR for the HTML report, metrics.json and predictions.csv.',
    '',
  ];
  return lines.join('\n');
}
