import type { CommandModule } from 'yargs';
import { loadConfig } from '../config/load.js';
import { openDb, existingDbPath } from '../store/db.js';
import { OutboxStore, type OutboxRow } from '../store/outbox.js';
import { statusName } from '../dicom/status.js';
import { IchError } from '../errors.js';
import { formatTable, isoTime } from './table.js';
import type { GlobalArgs } from './commands.js';

interface OutboxArgs extends GlobalArgs {
  action: 'list' | 'retry';
  id?: number;
  json: boolean;
  limit: number;
  state?: OutboxRow['state'];
}

export const outboxCommand: CommandModule<GlobalArgs, OutboxArgs> = {
  command: 'outbox <action> [id]',
  describe: 'list queued, sent and failed outputs, or queue one again',
  builder: (y) =>
    y
      .positional('action', { choices: ['list', 'retry'] as const, demandOption: true })
      .positional('id', { type: 'number', describe: 'outbox row id (retry)' })
      .option('json', { type: 'boolean', default: false })
      .option('limit', { type: 'number', default: 50 })
      .option('state', { choices: ['pending', 'sent', 'failed'] as const, describe: 'list only rows in this state' }),
  handler: (args) => {
    const { config } = loadConfig(args.config);
    const db = openDb(existingDbPath(config.storage.dataDir));
    try {
      const outbox = new OutboxStore(db);
      if (args.action === 'list') {
        const rows = outbox.latest(args.limit, args.state ?? null).map(({ payload: _payload, ...row }) => row);
        process.stdout.write(args.json ? `${JSON.stringify(rows, null, 2)}\n` : `${listText(rows)}\n`);
        return;
      }
      if (args.id === undefined || !outbox.retry(args.id, Date.now())) throw new IchError('NOT_FOUND', `no outbox row ${args.id ?? '(missing id)'}`);
      process.stdout.write(`outbox row ${args.id} queued again\n`);
    } finally {
      db.close();
    }
  },
};

function listText(rows: Array<Omit<OutboxRow, 'payload'>>): string {
  return formatTable(
    ['id', 'kind', 'destination', 'state', 'attempts', 'next try', 'last status', 'last error', 'series'],
    rows.map((r) => [
      String(r.id),
      r.kind,
      r.destination,
      r.state,
      String(r.attempts),
      r.state === 'pending' ? isoTime(r.nextAttemptAt) : '',
      r.lastStatus === null ? '' : r.kind === 'email' ? String(r.lastStatus) : statusName(r.lastStatus),
      r.lastError ?? '',
      r.seriesUid ?? '',
    ]),
  );
}
