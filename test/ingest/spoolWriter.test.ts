import { afterEach, beforeEach, expect, test } from 'vitest';
import { fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { SpoolWriter, temporaryNamesRemoved, unwritten } from '../../src/ingest/spoolWriter.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ich-spoolwriter-'));
  mkdirSync(path.join(dir, 'incoming'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writer(): { writer: SpoolWriter } {
  const file = path.join(dir, 'incoming', 'a.part');
  const fd = openSync(file, 'wx', 0o600);
  return { writer: new SpoolWriter({ path: file, fd }, Buffer.from('HEAD'), 16) };
}

test('publish: the file under its final name at once, its temporary name removed off the event loop, waited for by temporaryNamesRemoved', async () => {
  const { writer: w } = writer();
  const big = Buffer.alloc(100_000, 7);
  w.append([Buffer.from('small')]);
  w.append([big]);
  await w.finish(false);
  const final = path.join(dir, 'day', 'x.dcm');
  expect(w.publish(final)).toBe(true);
  expect(readFileSync(final)).toEqual(Buffer.concat([Buffer.from('HEADsmall'), big]));
  // Removed in the thread pool; the receiver waits for that before the node stops.
  await temporaryNamesRemoved();
  expect(readdirSync(path.join(dir, 'incoming'))).toEqual([]);
  // The one file left has a single name: nothing in incoming/ points at it.
  expect(fstatSync(openSync(final, 'r')).nlink).toBe(1);
});

test('publish refuses a final name that exists and changes nothing; remove then deletes the temporary', async () => {
  const { writer: w } = writer();
  w.append([Buffer.from('data')]);
  await w.finish(false);
  const final = path.join(dir, 'taken.dcm');
  openSync(final, 'w');
  expect(w.publish(final)).toBe(false);
  expect(readFileSync(final).length).toBe(0);
  expect(readdirSync(path.join(dir, 'incoming'))).toEqual(['a.part']);
  w.remove();
  await nextTurn();
  expect(readdirSync(path.join(dir, 'incoming'))).toEqual([]);
});

test('reads of many fragments, small and large, land in order; the socket buffer may be reused after each append', async () => {
  const { writer: w } = writer();
  const socketBuffer = Buffer.alloc(300_000);
  const expected: Buffer[] = [Buffer.from('HEAD')];
  let seed = 1;
  // Small reads are staged, large ones written as they are behind what was staged.
  for (const sizes of [[10, 20], [70_000, 5, 90_000], [3], [40_000, 40_000], [1], [100_000]]) {
    const parts: Buffer[] = [];
    let at = 0;
    for (const size of sizes) {
      const part = socketBuffer.subarray(at, at + size).fill(seed++);
      expected.push(Buffer.from(part));
      parts.push(part);
      at += size;
    }
    w.append(parts);
    socketBuffer.fill(0xee);
  }
  await w.finish(false);
  const final = path.join(dir, 'ordered.dcm');
  expect(w.publish(final)).toBe(true);
  expect(readFileSync(final).equals(Buffer.concat(expected))).toBe(true);
  expect(w.bytes).toBe(Buffer.concat(expected).length - 4);
  expect(w.prefix()).toEqual(Buffer.concat(expected).subarray(4, 20));
});

test('unwritten: what a short writev left, from the middle of a buffer on', () => {
  const [a, b, c] = [Buffer.from('abc'), Buffer.from('defg'), Buffer.from('hi')];
  expect(unwritten([a, b, c], 0).map(String)).toEqual(['abc', 'defg', 'hi']);
  expect(unwritten([a, b, c], 3).map(String)).toEqual(['defg', 'hi']);
  expect(unwritten([a, b, c], 5).map(String)).toEqual(['fg', 'hi']);
  expect(unwritten([a, b, c], 9)).toEqual([]);
});
