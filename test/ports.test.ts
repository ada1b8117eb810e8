// Test ports are reserved across the parallel test processes by files; a process's reservations go when it exits.
import { expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePorts } from './helpers/ports.js';

const reservations = path.join(os.tmpdir(), 'ich-triage-ports');

test('each port handed out is reserved by a file naming this process while it runs', async () => {
  const ports = await freePorts(3);
  expect(new Set(ports).size).toBe(3);
  for (const p of ports) {
    expect(p).toBeGreaterThanOrEqual(20000);
    expect(p).toBeLessThan(32768);
    expect(readFileSync(path.join(reservations, String(p)), 'utf8')).toBe(String(process.pid));
  }
});

test("another process's reservations are removed when it exits", () => {
  const script = [
    "const { existsSync } = await import('node:fs');",
    'const { freePorts } = await import(process.argv[1]);',
    'const ports = await freePorts(2);',
    // Whether each file was there while the process ran: 1 or 0.
    "console.log(ports.map((p) => `${p}:${Number(existsSync(`${process.argv[2]}/${p}`))}`).join(' '));",
  ].join('\n');
  const module = new URL('../dist/util/ports.js', import.meta.url).href;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, module, reservations], { encoding: 'utf8' });
  const held = out.trim().split(' ').map((s) => s.split(':').map(Number) as [number, number]);
  expect(held).toHaveLength(2);
  for (const [port, existed] of held) {
    expect(existed).toBe(1);
    expect(existsSync(path.join(reservations, String(port)))).toBe(false);
  }
});
