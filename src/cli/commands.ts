import type { CommandModule } from 'yargs';
import { serveCommand } from './serve.js';
import { checkConfigCommand } from './checkConfig.js';
import { dbCommand } from './db.js';

export interface GlobalArgs {
  config?: string;
}

export const commands: CommandModule<GlobalArgs, any>[] = [serveCommand, checkConfigCommand, dbCommand];
