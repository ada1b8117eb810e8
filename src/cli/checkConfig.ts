import type { CommandModule } from 'yargs';
import { loadConfig } from '../config/load.js';
import type { GlobalArgs } from './commands.js';

export const checkConfigCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'check-config',
  describe: 'validate the config file without starting',
  handler: (args) => {
    const { file } = loadConfig(args.config);
    process.stdout.write(`${file}: ok\n`);
  },
};
