import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * Ports for servers a test or benchmark starts, possibly later than it picks the port (a PACS
 * that comes back). They are drawn below the kernel's ephemeral range (32768-60999 on Linux),
 * so no port-0 listener or outgoing connection of another process is handed the same one
 * meanwhile; each is checked free by binding it. 11112, often taken, is never returned.
 * Test files run in parallel processes: a port is reserved across processes by a file named
 * after it holding the reserving process's ID (created exclusively, removed when the process
 * exits, stale once that process is gone or after an hour), so that two of them never pick the
 * same port between choosing it and listening on it.
 */
const lowest = 20000;
const highest = 32767;
const handedOut = new Set<number>();
const reservations = path.join(os.tmpdir(), 'ich-triage-ports');
const staleMs = 3_600_000;
let cleanupAtExit = false;

export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const port = lowest + Math.floor(Math.random() * (highest - lowest + 1));
    if (port === 11112 || handedOut.has(port) || !reserve(port)) continue;
    handedOut.add(port);
    if (await canBind(port, host)) return port;
  }
}

export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort(host));
  return ports;
}

/** True when this process now holds the port's reservation file. */
function reserve(port: number): boolean {
  const file = path.join(reservations, String(port));
  try {
    if (!cleanupAtExit) {
      cleanupAtExit = true;
      mkdirSync(reservations, { recursive: true });
      process.once('exit', () => handedOut.forEach((p) => rmSync(path.join(reservations, String(p)), { force: true })));
    }
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return true; // no shared folder: this process's own set still holds
    try {
      if (processAlive(Number(readFileSync(file, 'utf8'))) && Date.now() - statSync(file).mtimeMs < staleMs) return false;
      // Left by a process that is gone (a test worker terminated without its exit handlers).
      writeFileSync(file, String(process.pid));
      return true;
    } catch {
      return false;
    }
  }
}

/** Removes the reservations of processes that are gone (test workers ended without exit handlers). */
export function removeStaleReservations(): void {
  let files: string[];
  try {
    files = readdirSync(reservations);
  } catch {
    return;
  }
  for (const f of files) {
    const file = path.join(reservations, f);
    try {
      if (!processAlive(Number(readFileSync(file, 'utf8')))) rmSync(file, { force: true });
    } catch {
      // Taken over or removed meanwhile.
    }
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
