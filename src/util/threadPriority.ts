import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import os from 'node:os';
import { isMainThread } from 'node:worker_threads';

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

/** Niceness of the node's helper threads: the lowest, as 10 still preempted the event loop. */
const helperNiceness = 19;

/**
 * Lowers to niceness 19 the threads of this process that exist now, but the main one: libuv's
 * pool (made first, with one request: libuv starts it at the first) and V8's compiler and GC
 * helpers. A sender waits for each C-STORE answer, which only the event loop gives, and the
 * event loop wakes pool threads for each instance. On 2 cores it waited 240-400 us a slice in
 * the run queue behind them and the sender (/proc/<pid>/task/<tid>/schedstat); at niceness 10
 * they still preempted it about as often as the sender did (perf sched_switch); at 19 ingest
 * ran 18% faster than at 10 (6 interleaved rounds, each faster). They keep a share of a busy
 * CPU, where SCHED_IDLE could starve an fsync that an answer waits for. Call it from the main
 * thread before starting workers: inference workers set their own priority
 * (model.workerPriority), and the WAL checkpointer must not be slowed while its RESTART holds
 * commits off. Best effort; returns how many threads were lowered.
 */
export async function lowerHelperThreads(): Promise<number> {
  if (!isMainThread) return 0;
  await stat('/');
  let lowered = 0;
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return 0;
  }
  for (const tid of tids.map(Number)) {
    if (tid === process.pid) continue;
    try {
      if (os.getPriority(tid) < helperNiceness) {
        os.setPriority(tid, helperNiceness);
        lowered++;
      }
    } catch {
      // The thread has ended, or this system has no per-thread priorities.
    }
  }
  return lowered;
}
