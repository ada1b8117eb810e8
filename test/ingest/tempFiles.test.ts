import { afterEach, beforeEach, expect, test } from 'vitest';
import { closeSync, fstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TempFiles } from '../../src/ingest/tempFiles.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ich-tempfiles-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Until `expected` files exist in `folder` and the callbacks of their asynchronous opens have run. */
async function settle(expected: number, folder = dir): Promise<void> {
  for (let i = 0; i < 200 && readdirSync(folder).length < expected; i++) await sleep(5);
  await sleep(20);
}

test('files are created empty, owner-only, and spares are opened ahead', async () => {
  const files = new TempFiles(dir, 2);
  const first = files.take(); // none ready: opened now
  expect(statSync(first.path).mode & 0o777).toBe(0o600);
  expect(fstatSync(first.fd).size).toBe(0);
  await settle(3);
  const spares = readdirSync(dir).filter((f) => path.join(dir, f) !== first.path);
  expect(spares).toHaveLength(2);
  const second = files.take();
  expect(spares).toContain(path.basename(second.path));
  writeSync(second.fd, Buffer.from('abc'));
  expect(statSync(second.path).size).toBe(3);
  closeSync(first.fd);
  closeSync(second.fd);
  await files.close();
  // The spares are deleted; the files handed out are the caller's.
  expect(readdirSync(dir).sort()).toEqual([path.basename(first.path), path.basename(second.path)].sort());
});

test('a spare older than the age limit is deleted and replaced, never handed out', async () => {
  let now = 1_000_000;
  const files = new TempFiles(dir, 1, 60_000, () => now);
  const first = files.take();
  closeSync(first.fd);
  await settle(2);
  const [spare] = readdirSync(dir).filter((f) => f !== path.basename(first.path));
  now += 61_000;
  const taken = files.take();
  expect(path.basename(taken.path)).not.toBe(spare);
  expect(readdirSync(dir)).not.toContain(spare);
  closeSync(taken.fd);
  await files.close();
});

test('a spare whose folder was removed is dropped: the error of a fresh open is reported', async () => {
  const incoming = path.join(dir, 'incoming');
  mkdirSync(incoming);
  const files = new TempFiles(incoming, 2);
  closeSync(files.take().fd);
  await settle(3, incoming);
  rmSync(incoming, { recursive: true });
  expect(() => files.take()).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  mkdirSync(incoming);
  const taken = files.take();
  expect(path.dirname(taken.path)).toBe(incoming);
  expect(statSync(taken.path).nlink).toBe(1);
  closeSync(taken.fd);
  await files.close();
});
