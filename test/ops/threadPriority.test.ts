import { afterAll, beforeAll, expect, test } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { echoscu } from '../helpers/dcmtk.js';

// The event loop answers every C-STORE while its sender waits: the node's other threads yield
// the CPU to it. /proc/<pid>/task/<tid>/stat: field 19 is the nice value, field 41 the policy
// (5: SCHED_IDLE).

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(() => daemon?.cleanup());

function threads(pid: number): { tid: number; nice: number; policy: number }[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields from the third on: nice is the 19th, policy the 41st.
    return { tid: Number(tid), nice: Number(fields[16]), policy: Number(fields[38]) };
  });
}

test.runIf(existsSync('/proc/self/task'))('the event loop keeps normal priority; libuv and V8 helpers run at nice 19, inference as SCHED_IDLE, the WAL checkpointer at normal priority', async () => {
  const pid = daemon.process.pid!;
  const lowered = await daemon.waitForLog((l) => l.msg === 'helper threads at lower CPU priority than the event loop');
  const all = threads(pid);
  const main = all.find((t) => t.tid === pid)!;
  // Relative to the niceness the test runner gave the daemon (0 on a plain shell).
  expect(main.policy).toBe(0);
  expect(main.nice).toBeLessThan(19);
  const others = all.filter((t) => t.tid !== pid);
  const inference = others.filter((t) => t.policy === 5);
  const normal = others.filter((t) => t.policy !== 5);
  const helpers = normal.filter((t) => t.nice === 19);
  expect(inference.length).toBeGreaterThanOrEqual(1);
  // libuv's pool (4 threads) and V8's platform workers at least.
  expect(helpers.length).toBeGreaterThanOrEqual(5);
  expect(lowered.threads).toBe(helpers.length);
  // The one other: the WAL checkpointer's worker, started after, at normal priority.
  expect(normal.filter((t) => t.nice !== 19)).toEqual([expect.objectContaining({ nice: main.nice, policy: 0 })]);
  // The node still serves.
  expect((await echoscu({ port: daemon.port })).code).toBe(0);
});
