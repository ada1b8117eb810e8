// Runs dcmtk tools (storescu, dcmsend, echoscu, storescp, dcmdump, the dcmc* compressors) as independent DICOM peers in tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  output: string;
}

export interface ToolOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the tool after this long (default 60 s). */
  timeoutMs?: number;
}

/** A tool left running (storescp, or a storescu to interrupt); `done` resolves when it exits. */
export interface RunningTool {
  readonly child: ChildProcess;
  readonly done: Promise<ToolResult>;
  /** Output so far. */
  output(): string;
}

/** dcmtk waits on Nagle and delayed ACKs unless told otherwise (DESIGN.md 5). */
export const dcmtkEnv = { TCP_NODELAY: '1' };

export function startTool(tool: string, args: readonly string[], options: ToolOptions = {}): RunningTool {
  const child = spawn(tool, args, { env: { ...process.env, ...dcmtkEnv, ...options.env }, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
    output += s;
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    output += s;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const done = new Promise<ToolResult>((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, output });
    });
  });
  return { child, done, output: () => output };
}

export function runTool(tool: string, args: readonly string[], options: ToolOptions = {}): Promise<ToolResult> {
  return startTool(tool, args, options).done;
}

export interface Peer {
  port: number;
  host?: string;
  calledAe?: string;
  callingAe?: string;
}

function address(p: Peer): string[] {
  return ['-aet', p.callingAe ?? 'TEST_SCU', '-aec', p.calledAe ?? 'ICH_TRIAGE', p.host ?? '127.0.0.1', String(p.port)];
}

/** storescu -v: one association, the files in order; `args` go before the address (e.g. -xs, --max-pdu). */
export function storescuArgs(peer: Peer, files: readonly string[], args: readonly string[] = []): string[] {
  return ['-v', ...args, ...address(peer), ...files];
}

export function storescu(peer: Peer, files: readonly string[], args: readonly string[] = [], options?: ToolOptions): Promise<ToolResult> {
  return runTool('storescu', storescuArgs(peer, files, args), options);
}

/** dcmsend proposes each file's own transfer syntax; -nuc because RSNA UIDs are not valid UIDs. */
export function dcmsend(peer: Peer, files: readonly string[], args: readonly string[] = [], options?: ToolOptions): Promise<ToolResult> {
  return runTool('dcmsend', ['-v', '-nuc', '--decompress-never', ...args, ...address(peer), ...files], options);
}

export function echoscu(peer: Peer, options?: ToolOptions): Promise<ToolResult> {
  return runTool('echoscu', ['-v', ...address(peer)], options);
}

/**
 * Parses storescu -v's log (its stderr) into the files whose C-STORE was answered, with the
 * status text dcmtk printed ("Success", "Refused: OutOfResources", ...). Not the interleaved
 * output: storescu writes its "XMIT: ..." progress to stdout a few bytes at a time, which can
 * land inside a log line.
 */
export function storeResponses(log: string): { file: string; status: string }[] {
  const out: { file: string; status: string }[] = [];
  let file: string | undefined;
  for (const line of log.split('\n')) {
    const sending = /I: Sending file: (.*)$/.exec(line);
    if (sending) file = sending[1]!;
    const response = /I: Received Store Response \((.*)\)\s*$/.exec(line);
    if (response && file !== undefined) {
      out.push({ file, status: response[1]! });
      file = undefined;
    }
  }
  return out;
}

/** The compressed syntaxes the dcmtk command line tools write. */
export type Compression = 'rle' | 'jpeg-sv1' | 'jpeg-p14' | 'jpegls';

export const compressionTransferSyntax: Record<Compression, string> = {
  rle: '1.2.840.10008.1.2.5',
  'jpeg-sv1': '1.2.840.10008.1.2.4.70',
  'jpeg-p14': '1.2.840.10008.1.2.4.57',
  jpegls: '1.2.840.10008.1.2.4.80',
};

const compressor: Record<Compression, { tool: string; args: string[] }> = {
  rle: { tool: 'dcmcrle', args: [] },
  // dcmcjpeg's default lossless mode is process 14 with selection value 1.
  'jpeg-sv1': { tool: 'dcmcjpeg', args: ['+e1'] },
  // Process 14 with another predictor (selection value 6): only the .57 syntax can carry it.
  'jpeg-p14': { tool: 'dcmcjpeg', args: ['+el', '+sv', '6'] },
  jpegls: { tool: 'dcmcjpls', args: ['+el'] },
};

/** Compresses each file into outDir (same base names); returns the new paths in the same order. */
export async function compressFiles(files: readonly string[], kind: Compression, outDir: string): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  const { tool, args } = compressor[kind];
  const out: string[] = [];
  for (const file of files) {
    const target = path.join(outDir, path.basename(file));
    const r = await runTool(tool, [...args, file, target]);
    if (r.code !== 0) throw new Error(`${tool} ${file} failed (${r.code}): ${r.output}`);
    out.push(target);
  }
  return out;
}

/** dcmdump of one file (`args` e.g. ['+P', 'PatientName']): the text printed. */
export async function dcmdump(file: string, args: readonly string[] = []): Promise<string> {
  const r = await runTool('dcmdump', [...args, file]);
  if (r.code !== 0) throw new Error(`dcmdump ${file} failed (${r.code}): ${r.output}`);
  return r.stdout;
}
