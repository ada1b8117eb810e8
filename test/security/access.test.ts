import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import net from 'node:net';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseConfig } from '../../src/config/load.js';
import { checkCaller, parseCallerRule } from '../../src/dicom/allowList.js';
import { startDaemon, mainJs, type TestDaemon } from '../helpers/daemon.js';
import { echoscu } from '../helpers/dcmtk.js';
import { associateRq, PduType, VerificationSopClass } from '../helpers/rawPeer.js';
import { ExplicitVRLittleEndian } from '../helpers/synthetic.js';

// Who may call: the calling-AE allow-list with per-AE source addresses ("AE@IP"), and the
// warning about secrets in files others can read. The whole of 127/8 is loopback on Linux, so
// a peer can call from 127.0.0.2 or 127.0.0.3 to a node on 127.0.0.1.

const allowList = ['ANYWHERE', 'BOUND@127.0.0.2', 'BOUND@127.0.0.3'];
let daemon: TestDaemon;

beforeAll(async () => {
  daemon = await startDaemon({ config: { dicom: { allowedCallingAeTitles: allowList } } });
});
afterAll(async () => {
  await daemon?.cleanup();
});

/**
 * Sends an A-ASSOCIATE-RQ from `localAddress` and reads the answer's PDU type (and reject
 * reason). RawPeer cannot bind a source address; this is all the test needs of it.
 */
function associateFrom(localAddress: string, callingAe: string): Promise<{ type: number; reason?: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: daemon.port, localAddress });
    let data = Buffer.alloc(0);
    socket.on('connect', () => socket.write(associateRq(daemon.aeTitle, callingAe, [{ id: 1, abstractSyntax: VerificationSopClass, transferSyntaxes: [ExplicitVRLittleEndian] }])));
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length >= 10) {
        socket.destroy();
        resolve({ type: data[0]!, reason: data[0] === PduType.AssociateRJ ? data[9] : undefined });
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('closed before an answer')));
  });
}

describe('calling AE allow-list with source addresses', () => {
  test('an AE listed without an address is accepted from anywhere', async () => {
    expect(await associateFrom('127.0.0.1', 'ANYWHERE')).toEqual({ type: PduType.AssociateAC, reason: undefined });
    expect(await associateFrom('127.0.0.2', 'ANYWHERE')).toEqual({ type: PduType.AssociateAC, reason: undefined });
  });

  test('an AE bound to addresses is accepted from each of them only', async () => {
    expect((await associateFrom('127.0.0.2', 'BOUND')).type).toBe(PduType.AssociateAC);
    expect((await associateFrom('127.0.0.3', 'BOUND')).type).toBe(PduType.AssociateAC);
    // From elsewhere: rejected permanent, calling AE title not recognised (reason 3).
    expect(await associateFrom('127.0.0.4', 'BOUND')).toEqual({ type: PduType.AssociateRJ, reason: 3 });
    await daemon.waitForLog((l) => l.msg === 'association rejected' && l.reason === 'calling AE title "BOUND" is not allowed from 127.0.0.4');
  });

  test('dcmtk echoscu with a bound AE from the wrong address is told its AE title is not recognised', async () => {
    const r = await echoscu({ port: daemon.port, callingAe: 'BOUND' });
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('Calling AE Title Not Recognized');
    const ok = await echoscu({ port: daemon.port, callingAe: 'ANYWHERE' });
    expect(ok.code, ok.output).toBe(0);
  });

  test('an AE not listed is rejected from a bound AE\'s address too', async () => {
    expect(await associateFrom('127.0.0.2', 'STRANGER')).toEqual({ type: PduType.AssociateRJ, reason: 3 });
  });

  test('entries are parsed at the last "@" and checked in the config', () => {
    expect(parseCallerRule('CT1@10.0.0.5')).toEqual({ aeTitle: 'CT1', address: '10.0.0.5' });
    expect(parseCallerRule('CT1@::ffff:10.0.0.5')).toEqual({ aeTitle: 'CT1', address: '10.0.0.5' });
    expect(parseCallerRule('PACS@fe80::1')).toEqual({ aeTitle: 'PACS', address: 'fe80::1' });
    const rules = ['A', 'B@10.0.0.5'].map(parseCallerRule);
    expect(checkCaller(rules, 'B', '::ffff:10.0.0.5')).toBe('allowed');
    expect(checkCaller(rules, 'B', '10.0.0.6')).toBe('wrong-address');
    expect(checkCaller(rules, 'C', '10.0.0.5')).toBe('unknown-ae');
    expect(checkCaller([], 'C', '10.0.0.5')).toBe('allowed');

    const file = '/etc/ich-triage.yaml';
    const config = (entry: string) => () => parseConfig(`model: {path: m.onnx}\ndicom:\n  allowedCallingAeTitles: ["${entry}"]\n`, file);
    expect(config('CT1@10.0.0.5')().dicom.allowedCallingAeTitles).toEqual(['CT1@10.0.0.5']);
    expect(config('CT1@scanner.example')).toThrow(/key "dicom\.allowedCallingAeTitles\.0": "CT1@scanner\.example": after "@" comes an IP address/);
    expect(config('SEVENTEEN_CHARS_X@10.0.0.5')).toThrow(/key "dicom\.allowedCallingAeTitles\.0": .*16/);
  });
});

describe('secrets in files others can read', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ich-secrets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('the node warns at start when the config holding the SMTP password is readable by others, and not once it is 0600', async () => {
    const d = await startDaemon({ config: { email: { smtp: { user: 'ich', pass: 's3cret-pass' } } } });
    try {
      // The helper writes the config with the default umask: 0644.
      const warning = await d.waitForLog((l) => l.msg === 'file holding secrets is readable by group or others: chmod 600 it');
      expect(warning).toMatchObject({ file: d.configFile, mode: '644', holds: ['email.smtp.pass'] });
      // The password itself is never logged.
      expect(d.logs.map((l) => JSON.stringify(l)).join('\n')).not.toContain('s3cret-pass');
      await d.stop();
      chmodSync(d.configFile, 0o600);
      const before = d.logs.length;
      await d.restart();
      expect(d.logs.slice(before).filter((l) => l.msg.startsWith('file holding secrets'))).toEqual([]);
    } finally {
      await d.cleanup();
    }
  });

  test('check-config warns about a TLS key readable by others, and about the config naming it', () => {
    const key = path.join(dir, 'node.key');
    writeFileSync(key, 'not really a key', { mode: 0o640 });
    chmodSync(key, 0o640);
    const file = path.join(dir, 'tls.yaml');
    writeFileSync(file, `model: {path: m.onnx}\ndicom:\n  tls: {cert: node.crt, key: node.key}\n`);
    chmodSync(file, 0o604);
    const r = spawnSync(process.execPath, [mainJs, 'check-config', '--config', file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`warning: ${file} (mode 604, holds dicom.tls.key) is readable by group or others`);
    expect(r.stderr).toContain(`warning: ${key} (mode 640, holds dicom.tls.key (the key itself)) is readable by group or others`);
    chmodSync(file, 0o600);
    chmodSync(key, 0o600);
    expect(spawnSync(process.execPath, [mainJs, 'check-config', '--config', file], { encoding: 'utf8' }).stderr).toBe('');
  });
});
