// A sender as a scanner or PACS behaves, for the reliability tests: storescu over the files not yet acknowledged, again and again, until every one has its Success.
import { storescu, storeResponses } from '../helpers/dcmtk.js';

export interface SenderStats {
  /** storescu runs (associations tried). */
  runs: number;
  /** Responses seen, by dcmtk's status text ("Success", "Refused: OutOfResources", ...). */
  statuses: Map<string, number>;
}

export function newSenderStats(): SenderStats {
  return { runs: 0, statuses: new Map() };
}

/**
 * Sends `files` to the node at `port` until each one is acknowledged. A file whose response was
 * lost (node killed) or refused (0xA700) is sent again on the next run; a node that is down
 * refuses the connection and the next run tries again. Rejects after `timeoutMs`.
 */
export async function sendUntilAcknowledged(port: number, files: readonly string[], callingAe: string, stats: SenderStats, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = [...files];
  while (pending.length > 0) {
    if (Date.now() > deadline) throw new Error(`${pending.length} of ${files.length} files still unacknowledged after ${timeoutMs} ms`);
    stats.runs++;
    const r = await storescu({ port, callingAe }, pending, ['--no-halt']).catch(() => undefined);
    const responses = storeResponses(r?.stderr ?? '');
    for (const x of responses) stats.statuses.set(x.status, (stats.statuses.get(x.status) ?? 0) + 1);
    const acknowledged = new Set(responses.filter((x) => x.status === 'Success').map((x) => x.file));
    pending = pending.filter((f) => !acknowledged.has(f));
    // A sender's pause between retries, not a wait for an outcome.
    if (pending.length > 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
