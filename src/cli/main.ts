#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { IchError } from '../errors.js';
import { commands } from './commands.js';

/** Exit status for a bad config (sysexits EX_CONFIG): systemd does not restart on it. */
export const exitConfigError = 78;

try {
  await yargs(hideBin(process.argv))
    .scriptName('ich-triage')
    .option('config', { type: 'string', describe: 'config file (default: $ICH_TRIAGE_CONFIG)', global: true })
    .command(commands)
    .demandCommand(1, 'Name a command.')
    .strict()
    .help()
    .fail((msg, err, y) => {
      if (err) throw err;
      y.showHelp();
      process.stderr.write(`\n${msg}\n`);
      process.exit(64);
    })
    .parseAsync();
} catch (err) {
  if (!(err instanceof IchError)) throw err;
  process.stderr.write(`${err.describe()}\n`);
  process.exit(err.code === 'CONFIG_INVALID' || err.code === 'CONFIG_NOT_FOUND' ? exitConfigError : 1);
}
