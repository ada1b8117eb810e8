import type { CommandModule } from 'yargs';
import { exposedSecrets, loadConfig } from '../config/load.js';
import { IchError } from '../errors.js';
import type { GlobalArgs } from './commands.js';

interface CheckArgs extends GlobalArgs {
  get?: string;
}

export const checkConfigCommand: CommandModule<GlobalArgs, CheckArgs> = {
  command: 'check-config',
  describe: 'validate the config file without starting',
  builder: (y) => y.option('get', { type: 'string', describe: 'print one resolved value, e.g. dicom.port' }),
  handler: (args) => {
    const loaded = loadConfig(args.config);
    const { file, config } = loaded;
    for (const e of exposedSecrets(loaded)) process.stderr.write(`warning: ${e.file} (mode ${e.mode}, holds ${e.holds.join(', ')}) is readable by group or others: chmod 600 it\n`);
    if (args.get === undefined) {
      process.stdout.write(`${file}: ok\n`);
      return;
    }
    const value = args.get.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), config);
    if (value === undefined) throw new IchError('NOT_FOUND', `${file} has no key "${args.get}"`);
    process.stdout.write(`${typeof value === 'object' ? JSON.stringify(value) : String(value)}\n`);
  },
};
