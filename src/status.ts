import type { DbStatus } from './store/status.js';
import type { ProviderAttempt } from './inference/protocol.js';

/** What /status serves and `ich-triage status` prints. */
export interface NodeStatus extends DbStatus {
  /** Null when the node is not running and the figures come from the database alone. */
  node: {
    uptimeSeconds: number;
    activeAssociations: number;
    model: { name: string; version: string; sha256: string; provider: string; fallbacks: ProviderAttempt[]; demo: boolean };
  } | null;
  disk: { dataDir: string; freeMb: number; minFreeMb: number };
}
