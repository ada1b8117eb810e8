import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { defaultIngestDataDir, runIngestBench } from './ingest.js';
import { defaultModelPath, runClassifyBench } from './classify.js';
import { runReportBench } from './report.js';
import { runLoadBench } from './load.js';

/**
 * `npm run bench [-- --only NAME[,NAME]]`: runs the named benchmarks (all by default) and prints
 * what each measured. Each part is one entry of `parts`.
 */
const parts: Record<string, (args: BenchArgs) => Promise<unknown>> = {
  ingest: (args) =>
    runIngestBench({ rounds: args.rounds, dataDir: args.ingestData, maxPdu: 131072, log: (line) => process.stdout.write(`${line}\n`) }),
  classify: (args) =>
    runClassifyBench({ modelPath: args.model ?? defaultModelPath(), dataDir: args.ingestData, threads: args.threads, rounds: args.rounds, log: (line) => process.stdout.write(`${line}\n`) }),
  report: (args) =>
    runReportBench({ rounds: args.rounds, dataDir: args.ingestData, modelPath: args.model ?? defaultModelPath(), idleSeconds: args.idleSeconds, log: (line) => process.stdout.write(`${line}\n`) }),
  load: (args) =>
    runLoadBench({
      associations: args.loadAssociations,
      slicesPerAssociation: args.loadSlices,
      rows: args.loadSize,
      modelPath: args.model ?? defaultModelPath(),
      maxPdu: 131072,
      waitForClassification: true,
      log: (line) => process.stdout.write(`${line}\n`),
    }),
};

interface BenchArgs {
  only?: string;
  model?: string;
  threads: number;
  rounds: number;
  ingestData: string;
  idleSeconds: number;
  loadAssociations: number;
  loadSlices: number;
  loadSize: number;
}

const args: BenchArgs = await yargs(hideBin(process.argv))
  .scriptName('bench')
  .option('only', { type: 'string', describe: `comma-separated parts to run: ${Object.keys(parts).join(', ')}` })
  .option('rounds', { type: 'number', default: 5, describe: 'measurements per target; the median is reported' })
  .option('model', { type: 'string', describe: 'ONNX model for the classify and report parts (default: the shipped model)' })
  .option('threads', { type: 'number', default: 0, describe: 'inference threads for the classify part; 0: all cores' })
  .option('ingest-data', { type: 'string', default: defaultIngestDataDir, describe: 'folder of real series for the ingest, classify and report parts' })
  .option('idle-seconds', { type: 'number', default: 2, describe: 'series.idleSeconds for the report part' })
  .option('load-associations', { type: 'number', default: 8, describe: 'concurrent associations for the load part' })
  .option('load-slices', { type: 'number', default: 300, describe: 'slices per association for the load part' })
  .option('load-size', { type: 'number', default: 512, describe: 'rows and columns of the load part\'s synthetic slices' })
  .strict()
  .help()
  .parseAsync();

const names = args.only ? args.only.split(',').map((s) => s.trim()) : Object.keys(parts);
const unknown = names.filter((n) => !(n in parts));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark part(s): ${unknown.join(', ')}; known: ${Object.keys(parts).join(', ')}\n`);
  process.exit(64);
}
for (const name of names) await parts[name]!(args);
