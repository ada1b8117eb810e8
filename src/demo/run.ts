/**
 * `ich-triage demo`: the whole loop in a minute, without a PACS or a mail server. Plays the
 * scanner (sends two bundled phantom series, one with a bleed), the PACS (receives the SR and
 * KOS on the config's "demo" destination) and the mail server (on email.smtp), and prints what
 * came back.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';
import { pino } from 'pino';
import type { Config } from '../config/schema.js';
import dcmjs from '../dicom/dcmjs.js';
import { DicomServer, type IncomingInstance, type StoreHandler } from '../dicom/scp.js';
import { fileMetaHeader } from '../dicom/part10.js';
import { SopClass } from '../dicom/uids.js';
import { storeFiles, describeAttempt } from '../dispatch/storeScu.js';
import { newUid } from '../reports/uids.js';
import { IchError } from '../errors.js';
import { summariseSr } from './srSummary.js';

export const demoDestination = 'demo';
export const assetsDir = fileURLToPath(new URL('../../assets/demo/', import.meta.url));

export interface DemoCase {
  label: string;
  folder: string;
}

export const demoCases: DemoCase[] = [
  { label: 'phantom with a bleed', folder: 'bleed' },
  { label: 'phantom without a bleed', folder: 'clean' },
];

interface Received {
  sopClassUid: string;
  studyUid: string;
  file: Buffer;
  at: number;
}

export interface DemoOptions {
  config: Readonly<Config>;
  out: (line: string) => void;
  timeoutSeconds: number;
}

export async function runDemo({ config, out, timeoutSeconds }: DemoOptions): Promise<boolean> {
  const destination = config.destinations.find((d) => d.name === demoDestination);
  if (!destination) {
    throw new IchError('CONFIG_INVALID', `the config has no destination named "${demoDestination}" for the demo to play the PACS (config/ich-triage.example.yaml has one)`);
  }
  const received: Received[] = [];
  const emails: Array<{ subject: string; at: number; raw: string }> = [];
  const pacs = new DicomServer(
    {
      aeTitle: destination.aeTitle,
      host: destination.host,
      port: destination.port,
      allowedCallingAeTitles: [],
      allowedCallingHosts: [],
      maxAssociations: 4,
      maxPduLength: 131072,
      timeoutSeconds: 30,
      preferCompressed: false,
    },
    memoryStore((r) => received.push(r)),
    pino({ level: 'silent' }),
  );
  const smtp = config.email.enabled ? mailCatcher((raw) => emails.push({ subject: subjectOf(raw), at: Date.now(), raw })) : undefined;
  const work = mkdtempSync(path.join(tmpdir(), 'ich-demo-'));
  try {
    await pacs.listen();
    if (smtp) await new Promise<void>((resolve, reject) => smtp.listen(config.email.smtp.port, config.email.smtp.host, resolve).once('error', reject));
    const node = { host: ['0.0.0.0', '::'].includes(config.dicom.host) ? '127.0.0.1' : config.dicom.host, port: config.dicom.port };
    out(`ich-triage demo: playing the scanner, the PACS ${destination.aeTitle} (port ${destination.port})${smtp ? ` and the mail server (port ${config.email.smtp.port})` : ''}`);
    const sent: Array<DemoCase & { studyUid: string; lastSliceAt: number; slices: number }> = [];
    for (const c of demoCases) {
      const { files, studyUid } = freshCopy(path.join(assetsDir, c.folder), path.join(work, c.folder));
      const attempts = await storeFiles({ ...node, aeTitle: config.dicom.aeTitle, callingAeTitle: 'ICH_DEMO', timeoutMs: 30_000 }, files);
      const ok = attempts.filter((a) => 'status' in a && a.status === 0).length;
      out(`  sent ${c.label}: ${ok}/${files.length} slices accepted${ok < files.length ? ` (${describeAttempt(attempts.find((a) => !('status' in a) || a.status !== 0)!)})` : ''}`);
      if (ok === 0) throw new IchError('PEER_UNREACHABLE', `the node at ${node.host}:${node.port} did not take the demo series; is it running (npm start)?`);
      sent.push({ ...c, studyUid, lastSliceAt: Date.now(), slices: files.length });
    }
    out(`waiting for results (a series is complete after series.idleSeconds = ${config.series.idleSeconds} s without a new slice)...`);
    const deadline = Date.now() + timeoutSeconds * 1000;
    const srFor = (studyUid: string) => received.find((r) => r.studyUid === studyUid && r.sopClassUid === SopClass.ComprehensiveSr);
    while (Date.now() < deadline && !sent.every((s) => srFor(s.studyUid))) await new Promise((r) => setTimeout(r, 200));
    // The KOS and email of an urgent series go out with its SR; give them a moment.
    await new Promise((r) => setTimeout(r, 1500));
    let complete = true;
    for (const s of sent) {
      out('');
      const sr = srFor(s.studyUid);
      if (!sr) {
        out(`${s.label}: no SR within ${timeoutSeconds} s (see \`ich-triage status\` and \`ich-triage outbox list\`)`);
        complete = false;
        continue;
      }
      const summary = summariseSr(sr.file);
      out(`${s.label}: ${summary.conclusion}`);
      out(`  SR received by ${destination.aeTitle} ${((sr.at - s.lastSliceAt) / 1000).toFixed(1)} s after the last slice: "${summary.seriesDescription}"`);
      for (const f of summary.findings) out(`    ${f.name.padEnd(17)} probability ${f.probability.toFixed(3)}  threshold ${f.threshold.toFixed(3)}${f.probability >= f.threshold ? '  ABOVE' : ''}`);
      for (const c of summary.comments) out(`    ${c}`);
      const kos = received.find((r) => r.studyUid === s.studyUid && r.sopClassUid === SopClass.KeyObjectSelection);
      if (kos) out(`  KOS flag received: key slices marked "Of Interest"`);
      const mail = emails.find((e) => e.raw.includes(s.studyUid) || e.raw.includes(accessionOf(s.folder)));
      if (mail) out(`  email: "${mail.subject}" (${((mail.at - s.lastSliceAt) / 1000).toFixed(1)} s after the last slice)`);
    }
    return complete;
  } finally {
    await pacs.close(0);
    if (smtp) await new Promise<void>((resolve) => smtp.close(() => resolve()));
    rmSync(work, { recursive: true, force: true });
  }
}

/** An SCP that keeps what it receives in memory: the demo's PACS. */
function memoryStore(onObject: (r: Received) => void): StoreHandler {
  return {
    begin(request): IncomingInstance {
      const chunks: Buffer[] = [];
      return {
        // Copied: the parts are slices of the socket's read buffer, reused after the call.
        write: (parts) => chunks.push(...parts.map((p) => Buffer.from(p))),
        get bytes() {
          return chunks.reduce((n, c) => n + c.length, 0);
        },
        complete: async () => {
          const file = Buffer.concat([fileMetaHeader(request), ...chunks]);
          const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
          const dict = dcmjs.data.DicomMessage.readFile(ab, { untilTag: '00400275' }).dict;
          onObject({ sopClassUid: request.sopClassUid, studyUid: String(dict['0020000D']?.Value?.[0] ?? ''), file, at: Date.now() });
          return { status: 0 };
        },
        discard: () => chunks.splice(0),
      };
    },
  };
}

function mailCatcher(onMessage: (raw: string) => void): SMTPServer {
  return new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      stream.on('end', () => {
        onMessage(raw);
        callback();
      });
    },
  });
}

/** The Subject header, unfolded, with MIME encoded words decoded. */
export function subjectOf(raw: string): string {
  const headers = raw.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  const line = /^Subject: (.*)$/im.exec(headers)?.[1] ?? '';
  return line
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_, _charset: string, enc: string, text: string) =>
      enc.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64').toString('utf8')
        : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'),
    );
}

function accessionOf(folder: string): string {
  return `DEMO-${folder.toUpperCase()}`;
}

/**
 * Copies a bundled series with new Study, Series, SOP Instance and Frame of Reference UIDs,
 * so that every run is a new study (the node keeps the first copy of a SOP Instance UID).
 */
function freshCopy(from: string, to: string): { files: string[]; studyUid: string } {
  const studyUid = newUid('');
  const seriesUid = newUid('');
  const frameUid = newUid('');
  const folder = path.basename(from);
  mkdirSync(to, { recursive: true });
  const files = readdirSync(from)
    .filter((f) => f.endsWith('.dcm'))
    .sort()
    .map((name) => {
      const bytes = readFileSync(path.join(from, name));
      const dicomDict = dcmjs.data.DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
      const sopUid = newUid('');
      const set = (tag: string, value: string) => {
        const e = dicomDict.dict[tag];
        if (e) e.Value = [value];
      };
      set('0020000D', studyUid);
      set('0020000E', seriesUid);
      set('00080018', sopUid);
      set('00200052', frameUid);
      set('00080050', accessionOf(folder));
      dicomDict.meta['00020003']!.Value = [sopUid];
      const out = path.join(to, name);
      writeFileSync(out, Buffer.from(dicomDict.write()));
      return out;
    });
  return { files, studyUid };
}
