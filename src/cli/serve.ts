import type { CommandModule } from 'yargs';
import { Daemon } from '../daemon.js';
import type { GlobalArgs } from './commands.js';

export const serveCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'serve',
  describe: 'run the node: DICOM SCP, classification, reports, HTTP',
  handler: async (args) => {
    // Spool files, the database and reports are for the service user only.
    process.umask(0o077);
    const daemon = await Daemon.start({ configFile: args.config });
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      daemon.log.info({ signal }, 'signal received');
      daemon.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          daemon.log.error({ err }, 'unclean stop');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // systemctl reload: config and model again, associations untouched.
    process.on('SIGHUP', () => void daemon.reload());
  },
};
