import type { CommandModule } from 'yargs';
import { runDemo } from '../demo/run.js';
import { loadConfigOrExample } from './context.js';
import { getJson } from './http.js';
import type { GlobalArgs } from './commands.js';

interface DemoArgs extends GlobalArgs {
  timeout: number;
}

export const demoCommand: CommandModule<GlobalArgs, DemoArgs> = {
  command: 'demo',
  describe: 'send two phantom series to the running node and show what comes back (SR, KOS, email)',
  builder: (y) => y.option('timeout', { type: 'number', default: 90, describe: 'seconds to wait for the results' }),
  handler: async (args) => {
    const { config } = loadConfigOrExample(args.config);
    // Fails with DAEMON_NOT_RUNNING and what to do when the node is not up.
    await getJson(config, '/healthz');
    const complete = await runDemo({ config, out: (line) => process.stdout.write(`${line}\n`), timeoutSeconds: args.timeout });
    process.exitCode = complete ? 0 : 1;
  },
};
