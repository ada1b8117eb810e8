import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import os from 'node:os';

/** `model.workerPriority`: how inference threads share the CPU with the rest of the node. */
export const threadPriorities = ['idle', 'low', 'normal'] as const;
export type ThreadPriority = (typeof threadPriorities)[number];

/** Niceness of 'low' threads. */
const lowNiceness = 10;

/**
 * Sets the calling thread's scheduling priority; on Linux it is per thread, and threads started
 * afterwards by this one (onnxruntime's pool) inherit it. Best effort: says what was applied.
 *
 * 'idle' is SCHED_IDLE, set through chrt(1) as Node has no binding for sched_setscheduler: the
 * thread runs only on a core nothing else wants, and yields it at once when the main thread (an
 * instance to acknowledge) or a local sender wakes. With niceness alone the kernel lets the
 * running slice finish first, which cost ~20% of ingest throughput on 2 cores. Where chrt
 * fails, 'idle' falls back to 'low' (niceness 10).
 */
export function setThreadPriority(priority: ThreadPriority): ThreadPriority {
  if (priority === 'normal') return 'normal';
  let tid: number;
  try {
    tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid)) return 'normal';
  } catch {
    return 'normal';
  }
  if (priority === 'idle') {
    try {
      execFileSync('chrt', ['--idle', '--pid', '0', String(tid)], { stdio: 'ignore', timeout: 5000 });
      return 'idle';
    } catch {
      // chrt missing or not allowed: niceness below.
    }
  }
  try {
    os.setPriority(tid, lowNiceness);
    return 'low';
  } catch {
    return 'normal';
  }
}
