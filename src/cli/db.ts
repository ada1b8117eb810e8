import type { CommandModule } from 'yargs';
import { mkdirSync } from 'node:fs';
import { loadConfig } from '../config/load.js';
import { openDb, migrate, dbPath } from '../store/db.js';
import type { GlobalArgs } from './commands.js';

export const dbCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'db <action>',
  describe: 'database maintenance',
  builder: (y) =>
    y.positional('action', { choices: ['migrate'] as const, demandOption: true }),
  handler: (args) => {
    const { config } = loadConfig(args.config);
    mkdirSync(config.storage.dataDir, { recursive: true, mode: 0o700 });
    const db = openDb(dbPath(config.storage.dataDir));
    try {
      const { from, to } = migrate(db);
      process.stdout.write(from === to ? `schema is at version ${to}\n` : `migrated schema ${from} -> ${to}\n`);
    } finally {
      db.close();
    }
  },
};
