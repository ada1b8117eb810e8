import type { CommandModule } from 'yargs';
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { loadConfig } from '../config/load.js';
import { dbPath } from '../store/db.js';
import { statusFromDb } from '../store/status.js';
import { freeMegabytes } from '../ingest/disk.js';
import { IchError } from '../errors.js';
import type { NodeStatus } from '../status.js';
import { getJson } from './http.js';
import { formatTable, fixed, isoTime } from './table.js';
import type { GlobalArgs } from './commands.js';

interface StatusArgs extends GlobalArgs {
  json: boolean;
}

export const statusCommand: CommandModule<GlobalArgs, StatusArgs> = {
  command: 'status',
  describe: 'uptime, queues, recent decisions, urgent alerts, outbox failures, disk',
  builder: (y) => y.option('json', { type: 'boolean', default: false }),
  handler: async (args) => {
    const { config } = loadConfig(args.config);
    let status: NodeStatus;
    try {
      status = (await getJson(config, '/status')).body as NodeStatus;
    } catch (err) {
      if (!(err instanceof IchError && err.code === 'DAEMON_NOT_RUNNING')) throw err;
      // The node is down: what the database says is still worth showing.
      const file = dbPath(config.storage.dataDir);
      if (!existsSync(file)) throw err;
      const db = new Database(file, { readonly: true });
      try {
        status = { node: null, disk: { dataDir: config.storage.dataDir, freeMb: Math.round(await freeMegabytes(config.storage.dataDir)), minFreeMb: config.storage.minFreeMb }, ...statusFromDb(db, Date.now()) };
      } finally {
        db.close();
      }
    }
    process.stdout.write(args.json ? `${JSON.stringify(status, null, 2)}\n` : text(status));
  },
};

function text(s: NodeStatus): string {
  const lines: string[] = [];
  if (s.node) {
    lines.push(
      `node: up ${Math.round(s.node.uptimeSeconds)} s, ${s.node.activeAssociations} association(s), model ${s.node.model.name} ${s.node.model.version} on ${s.node.model.provider}${s.node.model.demo ? ' (demonstration model, not for clinical use)' : ''}`,
    );
    for (const f of s.node.model.fallbacks) lines.push(`  provider ${f.provider} unavailable, fell back: ${f.reason}`);
  } else {
    lines.push('node: not running (figures from the database)');
  }
  lines.push(`disk: ${s.disk.freeMb} MB free in ${s.disk.dataDir} (refusing below ${s.disk.minFreeMb} MB)`);
  lines.push(`queues: ${s.queues.slicesWaiting} slices waiting, ${s.queues.seriesOpen} series open, ${s.queues.outboxPending} outputs pending`);
  lines.push(`last 24 h: ${s.last24h.instances} instances, ${s.last24h.seriesDecided} series decided, ${s.last24h.urgent.length} urgent`);
  for (const u of s.last24h.urgent) lines.push(`  URGENT ${isoTime(u.decidedAt)} accession ${u.accessionNumber ?? '-'} ${u.flagged.join(', ')} (${u.seriesUid})`);
  lines.push('', formatTable(
    ['series', 'state', 'decision', 'any', 'last slice', 'decided'],
    s.lastSeries.map((r) => [r.seriesUid, r.state === 'skipped' ? `skipped: ${r.skipReason}` : r.state, r.decision ?? '', fixed(r.anyScore), isoTime(r.lastReceivedAt), isoTime(r.decidedAt)]),
  ));
  if (s.outboxFailures.length > 0) {
    lines.push('', 'outbox failures:', formatTable(['id', 'kind', 'destination', 'attempts', 'last error'], s.outboxFailures.map((f) => [String(f.id), f.kind, f.destination, String(f.attempts), f.lastError ?? ''])));
  }
  return `${lines.join('\n')}\n`;
}
