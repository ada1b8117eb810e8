import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../util/ports.js';

export { freePort };

/** The package root: dist/bench/ sits two folders below it. */
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
/** `ich-triage serve`, and the ingest path alone. */
export const nodeCommands = {
  serve: [path.join(packageRoot, 'dist/cli/main.js'), 'serve', '--config'],
  ingestOnly: [path.join(packageRoot, 'dist/bench/ingestServer.js')],
} as const;

/** dcmtk waits on Nagle and delayed ACKs unless told otherwise (DESIGN.md 5). */
export const dcmtkEnv = { ...process.env, TCP_NODELAY: '1' };


/** Runs a command to its end; rejects with its output when it fails. */
export function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: dcmtkEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`${command} exited ${code}:\n${output.slice(-2000)}`))));
  });
}

export interface RunningNode {
  port: number;
  /** The HTTP port (/metrics, /healthz), from the ready line. */
  httpPort: number | undefined;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts the node (`command`, the config file appended) on a config written to `dir` (port 0:
 * the node reports the port it got in its ready line) and resolves once it listens.
 */
export function startNode(dir: string, config: Record<string, unknown>, command: readonly string[] = nodeCommands.serve): Promise<RunningNode> {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'ich-triage.yaml');
  writeFileSync(file, JSON.stringify(config));
  const child = spawn(process.execPath, [...command, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    let rest = '';
    const onData = (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        const entry = parseJson(line);
        if (entry?.msg === 'DICOM SCP listening' && typeof entry.port === 'number') {
          // Keep draining stdout so the node never blocks on a full pipe.
          child.stdout.off('data', onData).resume();
          child.off('exit', onEarlyExit);
          const http = entry.http as { port?: number } | undefined;
          resolve({ port: entry.port, httpPort: http?.port, pid: child.pid!, stop: () => stopProcess(child) });
        }
      }
    };
    const onEarlyExit = (code: number | null) => reject(new Error(`ich-triage exited (${code}) before listening:\n${stderr}`));
    child.stdout.on('data', onData);
    child.once('exit', onEarlyExit);
  });
}

function parseJson(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

export interface StorescpOptions {
  /** Bring the peer up on a port configured earlier (a PACS that comes back); default a free one. */
  port?: number;
  /** Extra storescp options, e.g. +uf so that an object received twice makes two files. */
  args?: readonly string[];
}

/** Starts dcmtk storescp writing into `dir` and resolves once it answers C-ECHO. */
export async function startStorescp(dir: string, aeTitle: string, maxPdu: number, options: StorescpOptions = {}): Promise<{ port: number; stop(): Promise<void> }> {
  mkdirSync(dir, { recursive: true });
  const port = options.port ?? (await freePort());
  const args = ['--max-pdu', String(maxPdu), ...(options.args ?? []), '-aet', aeTitle, '-od', dir, String(port)];
  const child = spawn('storescp', args, { env: dcmtkEnv, stdio: 'ignore' });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`storescp exited (${code})`))));
  // Readiness: the first C-ECHO that succeeds (echoscu fails fast while nothing listens).
  for (;;) {
    const ok = run('echoscu', ['-aec', aeTitle, '127.0.0.1', String(port)]).then(
      () => true,
      () => false,
    );
    if (await Promise.race([ok, exited])) break;
  }
  exited.catch(() => undefined);
  return { port, stop: () => stopProcess(child) };
}
