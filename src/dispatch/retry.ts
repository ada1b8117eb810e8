import type { Config } from '../config/schema.js';

export type RetryPolicy = Config['dispatch']['retry'];

/**
 * When to try again after the `attempt`-th failure (1-based): exponential backoff from
 * initialSeconds, capped at maxSeconds; null once maxAttempts attempts have failed.
 */
export function nextAttemptAt(attempt: number, policy: RetryPolicy, now: number): number | null {
  if (attempt >= policy.maxAttempts) return null;
  const seconds = Math.min(policy.maxSeconds, policy.initialSeconds * 2 ** (attempt - 1));
  return now + Math.round(seconds * 1000);
}

/** How a peer's answer should be treated. */
export type Delivery =
  | { ok: true; status: number | null }
  /** Worth retrying: unreachable, timed out, out of resources, a 4xx SMTP reply. */
  | { ok: false; transient: true; error: string; status: number | null }
  /** The peer refused the object itself: retrying the same bytes will not help. */
  | { ok: false; transient: false; error: string; status: number | null };
