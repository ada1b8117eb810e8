import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { syntheticSeries, writeSlices } from '../dicom/syntheticCt.js';
import { dcmtkEnv, startNode, startStorescp } from './processes.js';
import { startSmtpSink, type SmtpSink } from './smtpSink.js';
import { fmtLoad, median } from './ingest.js';

/**
 * Time to result: a 40-slice series sent by dcmtk storescu to the node, and the seconds from
 * the last slice's C-STORE response (as storescu prints it) to the SR, the KOS and the email
 * arriving at the peers (the SR/KOS files appearing in dcmtk storescp's folder, the message
 * accepted by an in-process SMTP server). Each round runs on a fresh node and data folder
 * (the same series sent twice would be a new revision, which sends no second email); the
 * median counts. Thresholds are forced ("any" at 0) so that every round is urgent and
 * produces all three outputs: the decision is not what is measured, the path is.
 */

export interface ReportBenchOptions {
  rounds: number;
  /** Folder of real series (one sub-folder per series). */
  dataDir: string;
  modelPath: string;
  idleSeconds: number;
  log: (line: string) => void;
}

export interface ReportBenchResult {
  slices: number;
  source: string;
  idleSeconds: number;
  /** Seconds after the last slice's C-STORE response, median over the rounds. */
  sr: number;
  kos: number;
  email: number;
  rounds: Array<{ sr: number; kos: number; email: number }>;
}

const nodeAe = 'ICH_TRIAGE';
const pacsAe = 'PACS';
const seriesSlices = 40;

export async function runReportBench(o: ReportBenchOptions): Promise<ReportBenchResult> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'ich-bench-report-'));
  const smtp = await startSmtpSink();
  try {
    const { files, source } = seriesFiles(o.dataDir, path.join(work, 'synthetic'));
    o.log(`report: ${files.length} slices from ${source}; series.idleSeconds ${o.idleSeconds}; model ${o.modelPath}`);
    o.log(`report: load average ${fmtLoad(os.loadavg())} on ${os.cpus().length} cores`);
    const rounds: ReportBenchResult['rounds'] = [];
    for (let round = 1; round <= o.rounds; round++) {
      const r = await oneRound(path.join(work, `round-${round}`), files, smtp, o);
      rounds.push(r);
      o.log(`report: round ${round}  SR ${r.sr.toFixed(2)} s  KOS ${r.kos.toFixed(2)} s  email ${r.email.toFixed(2)} s  (load ${fmtLoad(os.loadavg())})`);
    }
    const result: ReportBenchResult = {
      slices: files.length,
      source,
      idleSeconds: o.idleSeconds,
      sr: median(rounds.map((r) => r.sr)),
      kos: median(rounds.map((r) => r.kos)),
      email: median(rounds.map((r) => r.email)),
      rounds,
    };
    const target = o.idleSeconds + 2;
    o.log(
      `report: median seconds after the last slice: SR ${result.sr.toFixed(2)}, KOS ${result.kos.toFixed(2)}, email ${result.email.toFixed(2)} ` +
        `(target < idleSeconds + 2 = ${target} s: ${Math.max(result.sr, result.email) < target ? 'met' : 'NOT met'})`,
    );
    return result;
  } finally {
    await smtp.close();
    rmSync(work, { recursive: true, force: true });
  }
}

async function oneRound(dir: string, files: readonly string[], smtp: SmtpSink, o: ReportBenchOptions): Promise<{ sr: number; kos: number; email: number }> {
  const pacsDir = path.join(dir, 'pacs');
  const pacs = await startStorescp(pacsDir, pacsAe, 131072);
  const node = await startNode(dir, {
    dicom: { aeTitle: nodeAe, host: '127.0.0.1', port: 0 },
    storage: { dataDir: path.join(dir, 'data'), minFreeMb: 0 },
    model: { path: o.modelPath, thresholds: { any: 0 } },
    series: { idleSeconds: o.idleSeconds },
    http: { host: '127.0.0.1', port: 0 },
    // info: startNode waits for the ready line.
    logging: { level: 'info' },
    destinations: [{ name: 'pacs', aeTitle: pacsAe, host: '127.0.0.1', port: pacs.port, send: ['sr', 'kos'] }],
    email: { enabled: true, smtp: { host: '127.0.0.1', port: smtp.port }, to: ['radiology-oncall@hospital.example'] },
  });
  try {
    const mailsBefore = smtp.messages.length;
    const sr = waitForFile(pacsDir, /^SR/);
    const kos = waitForFile(pacsDir, /^KO/);
    const email = smtp.waitForCount(mailsBefore + 1, 120_000).then((m) => m.at(-1)!.receivedAt);
    const lastResponse = await sendSeries(node.port, files);
    const [srAt, kosAt, emailAt] = await Promise.all([sr, kos, email]);
    return { sr: (srAt - lastResponse) / 1000, kos: (kosAt - lastResponse) / 1000, email: (emailAt - lastResponse) / 1000 };
  } finally {
    await node.stop();
    await pacs.stop();
  }
}

/** storescu -v, one association; resolves with the time its output shows the last C-STORE response. */
function sendSeries(port: number, files: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('storescu', ['-v', '-aet', 'BENCH', '-aec', nodeAe, '127.0.0.1', String(port), ...files], { env: dcmtkEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let responses = 0;
    let last = 0;
    let output = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      const seen = (text.match(/Received Store Response/g) ?? []).length;
      if (seen > 0) {
        responses += seen;
        last = Date.now();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 && responses === files.length ? resolve(last) : reject(new Error(`storescu exited ${code} after ${responses} of ${files.length} responses:\n${output.slice(-2000)}`)),
    );
  });
}

/** Resolves with the time a file whose name matches first shows up in `dir` (storescp names files after the modality). */
function waitForFile(dir: string, name: RegExp, timeoutMs = 120_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (readdirSync(dir).some((f) => name.test(f))) return resolve(Date.now());
      if (Date.now() > deadline) return reject(new Error(`no file matching ${name} in ${dir} within ${timeoutMs} ms`));
      // 5 ms polling: the resolution of the figure, far below what it measures.
      setTimeout(poll, 5);
    };
    poll();
  });
}

/** 40 slices of the first real series that has them, else a synthetic 512x512 series. */
function seriesFiles(dataDir: string, syntheticDir: string): { files: string[]; source: string } {
  if (existsSync(dataDir)) {
    for (const series of readdirSync(dataDir).sort()) {
      const files = readdirSync(path.join(dataDir, series)).sort().map((f) => path.join(dataDir, series, f));
      if (files.length >= seriesSlices) return { files: files.slice(0, seriesSlices), source: path.join(dataDir, series) };
    }
  }
  const slices = syntheticSeries({ slices: seriesSlices, rows: 512, columns: 512 });
  return { files: writeSlices(syntheticDir, slices), source: `synthetic 512x512 slices (${dataDir} holds no series of ${seriesSlices} slices)` };
}
