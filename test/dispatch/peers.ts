// Peers the node sends its results to in the dispatch tests (dcmtk storescp, Orthanc), the objects they received, and the node's outbox rows.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import dcmjs from '../../src/dicom/dcmjs.js';
import { startStorescp } from '../../src/bench/processes.js';
import { freePorts } from '../helpers/ports.js';
import { dcmtkEnv } from '../helpers/dcmtk.js';
import { repoRoot, mainJs, type TestDaemon } from '../helpers/daemon.js';

export const SopClass = {
  ct: '1.2.840.10008.5.1.4.1.1.2',
  comprehensiveSr: '1.2.840.10008.5.1.4.1.1.88.33',
  kos: '1.2.840.10008.5.1.4.1.1.88.59',
} as const;

/** Polls `probe` until it returns something other than undefined/false; no fixed sleeps in the tests. */
export async function eventually<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 20; ; wait = Math.min(wait * 2, 250)) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    // Polling interval, not a guess at how long something takes.
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/**
 * A dcmtk storescp as the PACS: `dir` collects what it receives, one file per object received
 * (+uf: an object sent twice makes two files, so the tests can count deliveries).
 */
export interface Pacs {
  readonly port: number;
  readonly aeTitle: string;
  readonly dir: string;
  stop(): Promise<void>;
}

export async function startPacs(dir: string, aeTitle: string, port?: number): Promise<Pacs> {
  const scp = await startStorescp(dir, aeTitle, 131072, { port, args: ['+uf'] });
  return { port: scp.port, aeTitle, dir, stop: scp.stop };
}

export interface ReceivedObject {
  file: string;
  bytes: Buffer;
  dataset: Record<string, any>;
  sopClassUid: string;
  sopInstanceUid: string;
}

/** Every object a storescp wrote into `dir`. */
export function receivedObjects(dir: string): ReceivedObject[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.map((name) => {
    const file = path.join(dir, name);
    const bytes = readFileSync(file);
    const dataset = readDataset(bytes);
    return { file, bytes, dataset, sopClassUid: dataset.SOPClassUID, sopInstanceUid: dataset.SOPInstanceUID };
  });
}

/** A Part 10 file's data set, naturalized (dcmjs). */
export function readDataset(bytes: Buffer): Record<string, any> {
  const dict = dcmjs.data.DicomMessage.readFile(new Uint8Array(bytes).buffer);
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict) as Record<string, any>;
}

export interface OutboxRecord {
  id: number;
  key: string;
  series_uid: string | null;
  kind: string;
  destination: string;
  state: string;
  attempts: number;
  last_error: string | null;
  last_status: number | null;
}

export function outboxRows(d: TestDaemon): OutboxRecord[] {
  const db = d.openDb();
  try {
    return db.prepare('SELECT id, key, series_uid, kind, destination, state, attempts, last_error, last_status FROM outbox ORDER BY id').all() as OutboxRecord[];
  } finally {
    db.close();
  }
}

/** Runs the node's CLI on the daemon's config (e.g. `outbox list --json`). */
export function cli(d: TestDaemon, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [mainJs, ...args, '--config', d.configFile], { encoding: 'utf8', cwd: repoRoot });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** dciodvfy (dicom3tools: stderr, exit 1 on errors) and dsrdump (dcmtk) on a received file. */
export function checkObject(file: string): { iod: string; errors: string[]; dump: string } {
  const iod = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
  const dump = spawnSync('dsrdump', ['+Pl', '+Pu', '+Psu', '+Pc', '+Pt', file], { encoding: 'utf8' });
  const errors = `${iod.stdout}\n${iod.stderr}\n${dump.stderr}`.split('\n').filter((l) => /^(Error|E:)/.test(l.trim()));
  if (iod.status !== 0) errors.push(`dciodvfy exited ${iod.status}`);
  if (dump.status !== 0) errors.push(`dsrdump exited ${dump.status}`);
  return { iod: iod.stderr, errors, dump: dump.stdout };
}

/** Orthanc (Debian package) on free DICOM and HTTP ports, storage in `dir`. */
export interface Orthanc {
  readonly dicomPort: number;
  readonly httpPort: number;
  readonly aeTitle: string;
  get<T = any>(route: string): Promise<T>;
  post<T = any>(route: string, body: unknown): Promise<T>;
  stop(): Promise<void>;
}

export async function startOrthanc(dir: string, aeTitle = 'ORTHANC'): Promise<Orthanc> {
  mkdirSync(dir, { recursive: true });
  const [dicomPort, httpPort] = await freePorts(2);
  const configFile = path.join(dir, 'orthanc.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      Name: 'ich-triage-test',
      StorageDirectory: path.join(dir, 'storage'),
      IndexDirectory: path.join(dir, 'storage'),
      DicomAet: aeTitle,
      DicomPort: dicomPort,
      HttpPort: httpPort,
      HttpServerEnabled: true,
      RemoteAccessAllowed: false,
      AuthenticationEnabled: false,
      DicomCheckCalledAet: true,
      DicomAlwaysAllowStore: true,
      DicomAlwaysAllowEcho: true,
      Plugins: [],
      ConcurrentJobs: 1,
      HttpThreadsCount: 4,
    }),
  );
  const child = spawn('/usr/sbin/Orthanc', [configFile], { env: { ...process.env, ...dcmtkEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (log = (log + s).slice(-8000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const base = `http://127.0.0.1:${httpPort}`;
  const request = async (route: string, init?: RequestInit): Promise<any> => {
    const r = await fetch(`${base}${route}`, init);
    if (!r.ok) throw new Error(`Orthanc ${route}: HTTP ${r.status}`);
    return r.json();
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await eventually(
      'Orthanc to answer on its REST API',
      async () => {
        if (child.exitCode !== null) throw new Error(`Orthanc exited (${child.exitCode}):\n${log}`);
        return request('/system').then(
          () => true,
          () => false,
        );
      },
      60_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    dicomPort: dicomPort!,
    httpPort: httpPort!,
    aeTitle,
    get: (route) => request(route),
    post: (route, body) => request(route, { method: 'POST', body: JSON.stringify(body) }),
    stop,
  };
}
