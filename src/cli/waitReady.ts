import type { CommandModule } from 'yargs';
import { loadConfig } from '../config/load.js';
import { getJson } from './http.js';
import type { GlobalArgs } from './commands.js';

interface WaitArgs extends GlobalArgs {
  timeout: number;
}

/** Readiness for systemd (ExecStartPost) and scripts: exits 0 once /healthz answers 200. */
export const waitReadyCommand: CommandModule<GlobalArgs, WaitArgs> = {
  command: 'wait-ready',
  describe: 'wait until the running node reports healthy (/healthz 200)',
  builder: (y) => y.option('timeout', { type: 'number', default: 60, describe: 'seconds' }),
  handler: async (args) => {
    const { config } = loadConfig(args.config);
    const deadline = Date.now() + args.timeout * 1000;
    let last = 'no answer';
    while (Date.now() < deadline) {
      try {
        const { status, body } = await getJson(config, '/healthz', 2000);
        if (status === 200) {
          process.stdout.write('ready\n');
          return;
        }
        last = `failed checks: ${JSON.stringify((body as { failed?: string[] }).failed ?? body)}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    process.stderr.write(`not ready after ${args.timeout} s: ${last}\n`);
    process.exitCode = 1;
  },
};
