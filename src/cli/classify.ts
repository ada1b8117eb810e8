import type { CommandModule } from 'yargs';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startModel } from '../inference/model.js';
import { classifyFiles, type OfflineRun } from '../pipeline/offline.js';
import { encodeNpyFloat32 } from '../util/npy.js';
import { formatTable, fixed } from './table.js';
import { loadConfigOrExample } from './context.js';
import type { GlobalArgs } from './commands.js';

interface ClassifyArgs extends GlobalArgs {
  paths: string[];
  json: boolean;
  model?: string;
  dumpTensor?: string;
}

export const classifyCommand: CommandModule<GlobalArgs, ClassifyArgs> = {
  command: 'classify <paths..>',
  describe: 'classify DICOM files and folders offline, with the same code path as the node',
  builder: (y) =>
    y
      .positional('paths', { type: 'string', array: true, demandOption: true, describe: 'files or folders (recursed)' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' })
      .option('model', { type: 'string', describe: 'ONNX model (default: model.path of the config)' })
      .option('dump-tensor', { type: 'string', describe: "write each slice's model input as <SOPInstanceUID>.npy here" }),
  handler: async (args) => {
    const { config, file } = loadConfigOrExample(args.config);
    const { contract, thresholds, engine } = await startModel(config.model, file, args.model);
    for (const f of engine.status.fallbacks) process.stderr.write(`note: provider ${f.provider} unavailable (${f.reason}); using ${engine.status.provider}\n`);
    try {
      const files = args.paths.flatMap(listFiles);
      const run = await classifyFiles(
        files,
        engine,
        { classes: contract.classes, thresholds, model: contract.info, series: config.series },
        { wantTensors: args.dumpTensor !== undefined },
      );
      if (args.dumpTensor) dumpTensors(run, args.dumpTensor, contract.input.windows.length, contract.input.size);
      process.stdout.write(args.json ? `${JSON.stringify(toJson(run, contract.classes), null, 2)}\n` : toText(run, contract.classes));
      process.exitCode = run.unreadable.length > 0 || run.slices.some((s) => s.error) ? 2 : 0;
    } finally {
      await engine.close();
    }
  },
};

/** Files under the given paths, folders recursed in name order; dotfiles skipped. */
export function listFiles(p: string): string[] {
  const stat = statSync(p);
  if (!stat.isDirectory()) return [p];
  return readdirSync(p)
    .filter((name) => !name.startsWith('.'))
    .sort()
    .flatMap((name) => listFiles(path.join(p, name)));
}

function dumpTensors(run: OfflineRun, dir: string, channels: number, size: number): void {
  mkdirSync(dir, { recursive: true });
  for (const s of run.slices) {
    if (!s.tensor) continue;
    // SOP Instance UIDs from files are not trusted as path components.
    const name = s.sopInstanceUid.replace(/[^A-Za-z0-9._-]/g, '_');
    writeFileSync(path.join(dir, `${name}.npy`), encodeNpyFloat32(s.tensor, [channels, size, size]));
  }
}

function toJson(run: OfflineRun, classes: readonly string[]) {
  return {
    classes,
    slices: run.slices.map(({ tensor: _tensor, ...s }) => s),
    series: run.series,
    unreadable: run.unreadable,
  };
}

function toText(run: OfflineRun, classes: readonly string[]): string {
  const out: string[] = [];
  for (const { seriesUid, outcome } of run.series) {
    out.push(`series ${seriesUid}`);
    const members = run.slices.filter((s) => s.seriesUid === seriesUid).sort((a, b) => (a.z ?? a.instanceNumber ?? 0) - (b.z ?? b.instanceNumber ?? 0));
    out.push(
      formatTable(
        ['#', 'instance', 'z', 'sop', ...classes, 'note'],
        members.map((s, i) => [
          String(i + 1),
          s.instanceNumber === null ? '' : String(s.instanceNumber),
          fixed(s.z, 1),
          s.sopInstanceUid,
          ...classes.map((_, c) => fixed(s.probs?.[c])),
          s.skipReason ?? s.error ?? '',
        ]),
      ),
    );
    if (outcome.kind === 'skipped') {
      out.push(`=> skipped: ${outcome.reason}`, '');
      continue;
    }
    const r = outcome.result;
    out.push(`=> ${r.decision.toUpperCase()}${r.flagged.length ? ` (${r.flagged.join(', ')})` : ''}`);
    out.push(
      formatTable(
        ['class', 'score', 'threshold', 'key slices (#)'],
        classes.map((c) => [c, fixed(r.scores[c]), fixed(r.thresholds[c]), (r.keySlices[c] ?? []).map((k) => k.index).join(' ')]),
      ),
      '',
    );
  }
  for (const u of run.unreadable) out.push(`unreadable: ${u.file}: ${u.reason}`);
  return `${out.join('\n')}\n`;
}
