/**
 * `node dist/bench/providerBenchMain.js --out DIR [--model M] [--real DIR] [--phantoms N]
 * [--providers cpu,webgpu] [--raw-slices N] [--seconds S]`: execution providers compared on
 * this host through the real node (providerBench.ts; tools/gpu/device-run.sh runs it on a GPU host).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { providerNames, type ProviderName } from '../config/schema.js';
import { defaultModelPath } from './classify.js';
import { runProviderBench } from './providerBench.js';

const args = await yargs(hideBin(process.argv))
  .scriptName('providerBench')
  .option('out', { type: 'string', demandOption: true, describe: 'folder for providers.json and classify-<provider>-real.json' })
  .option('model', { type: 'string', describe: 'ONNX model (default: the shipped model)' })
  .option('real', { type: 'string', describe: 'folder of real series (recursed)' })
  .option('phantoms', { type: 'number', default: 256, describe: 'synthetic 512x512 slices, in series of 32' })
  .option('providers', { type: 'string', default: 'cpu,webgpu', describe: `comma-separated, the first is the reference: ${providerNames.join(', ')}` })
  .option('raw-slices', { type: 'number', default: 512, describe: 'slices per raw onnxruntime measurement' })
  .option('seconds', { type: 'number', default: 300, describe: 'no stage starts after this many seconds' })
  .strict()
  .help()
  .parseAsync();
const providers = args.providers.split(',').map((p) => p.trim());
const unknown = providers.filter((p) => !(providerNames as readonly string[]).includes(p));
if (unknown.length > 0) {
  process.stderr.write(`unknown provider(s): ${unknown.join(', ')}; known: ${providerNames.join(', ')}\n`);
  process.exit(64);
}
await runProviderBench({
  out: args.out,
  modelPath: args.model ?? defaultModelPath(),
  realDir: args.real,
  phantoms: args.phantoms,
  providers: providers as ProviderName[],
  rawSlices: args.rawSlices,
  deadline: Date.now() + args.seconds * 1000,
  log: (line) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`),
});
