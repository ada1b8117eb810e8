// Starts the real node (`node dist/cli/main.js serve`) as a child process on free ports in a temp dir, for black-box tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { freePorts } from './ports.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const mainJs = path.join(repoRoot, 'dist/cli/main.js');
export const tinyModel = path.join(repoRoot, 'test/fixtures/models/tiny-ich.onnx');
/** The log line that says the SCP accepts associations. */
export const readyMessage = 'DICOM SCP listening';

/**
 * Temporary spool files holding bytes: what a refused or cut-off instance would have left.
 * The node keeps a few empty temporaries open ahead of need, and removes the temporary name of
 * a stored file just after its answer (until then a second name of that file): neither counts.
 */
export function partialSpoolFiles(dataDir: string): string[] {
  const dir = path.join(dataDir, 'spool', 'incoming');
  return readdirSync(dir).filter((f) => {
    const s = statSync(path.join(dir, f), { throwIfNoEntry: false });
    return s !== undefined && s.size > 0 && s.nlink === 1;
  });
}

/** One pino JSON line from the node's stdout. */
export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

/** Nested partial of the config: objects merge, arrays and scalars replace. */
export type ConfigOverrides = { [key: string]: unknown };

export interface StartOptions {
  /** Merged over the test defaults (see `testConfig`). */
  config?: ConfigOverrides;
  /** Extra environment for the child. */
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the ready line. */
  readyTimeoutMs?: number;
}

export interface TestDaemon {
  /** Temp folder holding the config file and the data dir; removed by cleanup(). */
  readonly dir: string;
  readonly configFile: string;
  readonly config: Record<string, any>;
  readonly dataDir: string;
  readonly dbPath: string;
  readonly port: number;
  readonly httpPort: number;
  readonly aeTitle: string;
  /** Parsed log lines of every run so far (restarts append). */
  readonly logs: LogLine[];
  /** Lines that were not JSON, and stderr. */
  readonly rawOutput: string[];
  readonly process: ChildProcess;
  /** Resolves with the exit code (or the signal name) of the current process. */
  readonly exited: Promise<number | string>;
  /** Resolves with the first log line (from now or already seen) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Opens the database read-only; close it when done (or let cleanup do it). */
  openDb(): Database.Database;
  /** Sends SIGTERM (or the signal given) and waits for the exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
  /** Starts the node again on the same config and data dir. */
  restart(): Promise<void>;
  /** Kills the process if it still runs, closes opened databases, removes the temp dir. */
  cleanup(): Promise<void>;
}

/** Defaults for tests: loopback, free ports, data in the temp dir, the tiny model, no disk watermark. */
export function testConfig(dir: string, dicomPort: number, httpPort: number): Record<string, any> {
  return {
    dicom: { aeTitle: 'ICH_TRIAGE', host: '127.0.0.1', port: dicomPort, drainSeconds: 5, associationTimeoutSeconds: 30 },
    storage: { dataDir: path.join(dir, 'data'), durability: 'write', minFreeMb: 0 },
    model: { path: tinyModel, threads: 1 },
    series: { idleSeconds: 2 },
    http: { host: '127.0.0.1', port: httpPort },
    logging: { level: 'debug', phi: false },
  };
}

export function mergeConfig(base: Record<string, any>, overrides: ConfigOverrides): Record<string, any> {
  const out: Record<string, any> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    const current = out[key];
    const bothObjects = isPlainObject(current) && isPlainObject(value);
    out[key] = bothObjects ? mergeConfig(current, value as ConfigOverrides) : value;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export async function startDaemon(options: StartOptions = {}): Promise<TestDaemon> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ich-daemon-'));
  try {
    const [dicomPort, httpPort] = await freePorts(2);
    const config = mergeConfig(testConfig(dir, dicomPort!, httpPort!), options.config ?? {});
    const configFile = path.join(dir, 'ich-triage.yaml');
    // JSON is YAML: no serializer needed.
    writeFileSync(configFile, JSON.stringify(config, null, 2));
    const daemon = new ChildDaemon(dir, configFile, config, options);
    await daemon.launch();
    return daemon;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

class ChildDaemon implements TestDaemon {
  readonly logs: LogLine[] = [];
  readonly rawOutput: string[] = [];
  process!: ChildProcess;
  exited!: Promise<number | string>;
  private waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  private readonly dbs: Database.Database[] = [];

  constructor(
    readonly dir: string,
    readonly configFile: string,
    readonly config: Record<string, any>,
    private readonly options: StartOptions,
  ) {}

  get dataDir(): string {
    return this.config.storage.dataDir;
  }
  get dbPath(): string {
    return path.join(this.dataDir, 'ich-triage.db');
  }
  get port(): number {
    return this.config.dicom.port;
  }
  get httpPort(): number {
    return this.config.http.port;
  }
  get aeTitle(): string {
    return this.config.dicom.aeTitle;
  }

  async launch(): Promise<void> {
    const child = spawn(process.execPath, [mainJs, 'serve', '--config', this.configFile], {
      cwd: this.dir,
      env: { ...process.env, ...this.options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    splitLines(child.stdout!, (line) => this.onLine(line));
    splitLines(child.stderr!, (line) => this.rawOutput.push(line));
    const since = this.logs.length;
    const ready = this.waitForLog((l) => l.msg === readyMessage, this.options.readyTimeoutMs ?? 30_000, since);
    const died = this.exited.then((code) => {
      throw new Error(`node exited (${code}) before it was ready:\n${this.rawOutput.slice(-20).join('\n')}\n${this.logs.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`);
    });
    await Promise.race([ready, died]);
  }

  private onLine(text: string): void {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      this.rawOutput.push(text);
      return;
    }
    this.logs.push(line);
    for (const w of this.waiters) {
      if (w.match(line)) {
        this.waiters.delete(w);
        w.resolve(line);
      }
    }
  }

  waitForLog(match: (line: LogLine) => boolean, timeoutMs = 30_000, from = 0): Promise<LogLine> {
    const seen = this.logs.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no matching log line within ${timeoutMs} ms; last lines:\n${this.logs.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  openDb(): Database.Database {
    const db = new Database(this.dbPath, { readonly: true, fileMustExist: true });
    this.dbs.push(db);
    return db;
  }

  private get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<number | string> {
    if (this.running) this.process.kill(signal);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  async restart(): Promise<void> {
    if (this.running) await this.stop();
    await this.launch();
  }

  async cleanup(): Promise<void> {
    if (this.process && this.running) await this.stop('SIGKILL');
    for (const db of this.dbs.splice(0)) if (db.open) db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function splitLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    for (const p of parts) if (p !== '') onLine(p);
  });
  stream.on('end', () => {
    if (rest !== '') onLine(rest);
  });
}
