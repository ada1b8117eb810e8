import type { CommandModule } from 'yargs';
import { serveCommand } from './serve.js';
import { checkConfigCommand } from './checkConfig.js';
import { dbCommand } from './db.js';
import { classifyCommand } from './classify.js';
import { evalCommand } from './eval.js';
import { seriesCommand } from './series.js';
import { outboxCommand } from './outbox.js';
import { waitReadyCommand } from './waitReady.js';
import { statusCommand } from './status.js';
import { demoCommand } from './demo.js';

export interface GlobalArgs {
  config?: string;
}

export const commands: CommandModule<GlobalArgs, any>[] = [serveCommand, checkConfigCommand, dbCommand, classifyCommand, evalCommand, seriesCommand, outboxCommand, waitReadyCommand, statusCommand, demoCommand];
