import { readlinkSync } from 'node:fs';
import os from 'node:os';

/**
 * Lowers the calling thread's scheduling priority. On Linux niceness is per thread, and
 * /proc/thread-self names this thread's id. Best effort: false where that does not exist.
 */
export function lowerThreadPriority(niceness: number): boolean {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid)) return false;
    os.setPriority(tid, niceness);
    return true;
  } catch {
    return false;
  }
}
