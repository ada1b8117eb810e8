import { expect, test } from 'vitest';
import { runLoadBench, tinyModelPath } from '../../src/bench/load.js';

// 8 concurrent associations x 300 real-size slices (512x512) into the whole node, through the
// load benchmark (`npm run bench -- --only load` prints the same figures with the shipped
// model): nothing lost, memory far below what was received, every slice classified after.

test('8 associations x 300 slices: every acknowledged instance stored, peak RSS far below the bytes received', async () => {
  const lines: string[] = [];
  const r = await runLoadBench({
    associations: 8,
    slicesPerAssociation: 300,
    rows: 512,
    modelPath: tinyModelPath,
    maxPdu: 131072,
    waitForClassification: true,
    log: (line) => lines.push(line),
  });
  console.log(lines.join('\n'));
  expect(r.acknowledged).toBe(2400);
  expect(r.stored).toBe(2400);
  expect(r.classifiedAfterSeconds).toBeGreaterThan(0);
  // 1.2 GiB received; the node grows by a fraction of it (instances stream to disk).
  expect(r.receivedMiB).toBeGreaterThan(1000);
  expect(r.peakRssMiB - r.rssBeforeMiB).toBeLessThan(r.receivedMiB / 4);
  // A sanity bound: no C-STORE waits a second on the event loop.
  expect(r.maxEventLoopDelayMs).toBeLessThan(1000);
}, 240_000);
