import type { CommandModule } from 'yargs';
import Database from 'better-sqlite3';
import { loadConfig } from '../config/load.js';
import { existingDbPath } from '../store/db.js';
import { SeriesStore, type SeriesRow } from '../store/series.js';
import type { SeriesResult } from '../series/result.js';
import { orderSlices } from '../series/aggregate.js';
import { IchError } from '../errors.js';
import { formatTable, fixed, isoTime } from './table.js';
import type { GlobalArgs } from './commands.js';

interface SeriesArgs extends GlobalArgs {
  action: 'list' | 'show';
  uid?: string;
  json: boolean;
  limit: number;
}

export const seriesCommand: CommandModule<GlobalArgs, SeriesArgs> = {
  command: 'series <action> [uid]',
  describe: 'list decided series, or show one with its slices in z order',
  builder: (y) =>
    y
      .positional('action', { choices: ['list', 'show'] as const, demandOption: true })
      .positional('uid', { type: 'string', describe: 'Series Instance UID (show)' })
      .option('json', { type: 'boolean', default: false })
      .option('limit', { type: 'number', default: 50, describe: 'most recent series listed' }),
  handler: (args) => {
    const store = openReadOnly(args.config);
    try {
      if (args.action === 'list') {
        const rows = store.latest(args.limit);
        process.stdout.write(args.json ? `${JSON.stringify(rows.map(seriesJson), null, 2)}\n` : `${listText(rows)}\n`);
        return;
      }
      if (!args.uid) throw new IchError('NOT_FOUND', 'series show needs a Series Instance UID');
      const row = store.get(args.uid);
      if (!row) throw new IchError('NOT_FOUND', `no series ${args.uid}`);
      const slices = orderSlices(
        store.slicesOf(args.uid).map((s) => ({ ...s, probs: s.probs ? (JSON.parse(s.probs) as number[]) : [] })),
      );
      if (args.json) {
        process.stdout.write(`${JSON.stringify({ ...seriesJson(row), slices }, null, 2)}\n`);
        return;
      }
      const result = row.result ? (JSON.parse(row.result) as SeriesResult) : undefined;
      const classes = result?.classes ?? [];
      process.stdout.write(
        `${listText([row])}\n\n${formatTable(
          ['#', 'instance', 'z', 'sop', 'state', ...classes],
          slices.map((s, i) => [
            String(i + 1),
            s.instanceNumber === null ? '' : String(s.instanceNumber),
            fixed(s.z, 1),
            s.sopInstanceUid,
            s.state === 'failed' ? `failed: ${s.error}` : s.state,
            ...classes.map((_, c) => fixed(s.probs[c])),
          ]),
        )}\n`,
      );
    } finally {
      store.db.close();
    }
  },
};

function openReadOnly(configPath: string | undefined): SeriesStore {
  const { config } = loadConfig(configPath);
  return new SeriesStore(new Database(existingDbPath(config.storage.dataDir), { readonly: true, fileMustExist: true }));
}

function seriesJson(row: SeriesRow) {
  return { ...row, result: row.result ? (JSON.parse(row.result) as SeriesResult) : null };
}

function listText(rows: SeriesRow[]): string {
  return formatTable(
    ['series', 'state', 'decision', 'flagged', 'any', 'slices', 'last slice', 'decided'],
    rows.map((r) => {
      const result = r.result ? (JSON.parse(r.result) as SeriesResult) : undefined;
      return [
        r.seriesUid,
        r.state === 'skipped' ? `skipped: ${r.skipReason}` : r.state,
        r.decision ?? '',
        result?.flagged.join(',') ?? '',
        fixed(result?.scores['any']),
        result ? String(result.sliceCount) : '',
        isoTime(r.lastReceivedAt),
        isoTime(r.decidedAt),
      ];
    }),
  );
}
