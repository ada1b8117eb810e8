import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestDaemon } from '../helpers/daemon.js';
import { runTool, startTool, storescu, storeResponses } from '../helpers/dcmtk.js';
import { freePort } from '../helpers/ports.js';
import { syntheticSeries, writeSlices } from '../helpers/synthetic.js';
import { startSmtpSink, type SmtpSink } from '../../src/bench/smtpSink.js';
import { SopClass, eventually, receivedObjects } from '../dispatch/peers.js';
import { deferCleanup, node, seriesOutputs, settled, tearDown, tempDir, urgentThresholds } from '../dispatch/harness.js';
import { makePki, type Pki } from './pki.js';

// DICOM TLS (PS3.15 B.1) with dcmtk's TLS tools as the peers, both directions: the node as SCP
// with a certificate, a CA and client certificates required or not; the node as SCU presenting
// its certificate to a PACS that requires one. Then SMTP over TLS: implicit TLS, STARTTLS with
// requireTls, and what happens when the server's certificate or its STARTTLS is missing.

let pki: Pki;
const pkiDir = mkdtempSync(path.join(os.tmpdir(), 'ich-pki-'));
beforeAll(async () => {
  pki = await makePki(pkiDir);
}, 60_000);
afterAll(() => rmSync(pkiDir, { recursive: true, force: true }));
afterEach(tearDown);

/** dcmtk TLS arguments: our key and certificate (or anonymous), trusting the test CA. */
const tlsArgs = (pair?: { key: string; cert: string }) => [...(pair ? ['+tls', pair.key, pair.cert] : ['+tla']), '+cf', pki.ca];

function tlsConfig(requireClientCert: boolean) {
  return { dicom: { tls: { enabled: true, cert: pki.server.cert, key: pki.server.key, ca: pki.ca, requireClientCert } } };
}

/** Lines saying a TLS handshake was refused, logged since `from`. */
const handshakeFailures = (d: TestDaemon, from: number) => d.logs.slice(from).filter((l) => l.msg === 'connection dropped' && String(l.reason).startsWith('TLS handshake failed'));

/** A dcmtk storescp PACS over TLS that requires a client certificate signed by the test CA (dcmtk's default -rc). */
async function tlsPacs(dir: string): Promise<{ port: number; dir: string }> {
  const port = await freePort();
  const out = path.join(dir, 'tls-pacs');
  const scp = startTool('storescp', [...tlsArgs(pki.server), '+uf', '-aet', 'PACS', '-od', out, String(port)], { timeoutMs: 300_000 });
  deferCleanup(async () => {
    scp.child.kill();
    await scp.done;
  });
  mkdirSync(out, { recursive: true });
  await eventually('the TLS PACS answering C-ECHO', async () => (await runTool('echoscu', [...tlsArgs(pki.client), '-aec', 'PACS', '127.0.0.1', String(port)])).code === 0);
  return { port, dir: out };
}

describe('DICOM TLS', () => {
  test('client certificates required: a signed client stores and echoes; no certificate, a rogue one or plain TCP are refused and logged; results go out over mutual TLS', async () => {
    const dir = tempDir();
    const pacs = await tlsPacs(dir);
    const d = await node({
      ...tlsConfig(true),
      model: { thresholds: urgentThresholds },
      series: { idleSeconds: 1 },
      destinations: [{ name: 'pacs', aeTitle: 'PACS', host: '127.0.0.1', port: pacs.port, send: ['sr'], tls: true }],
    });
    const series = syntheticSeries({ slices: 8 });
    const files = writeSlices(path.join(dir, 'in'), series);

    const ok = await storescu({ port: d.port }, files, tlsArgs(pki.client));
    expect(ok.code, ok.output).toBe(0);
    expect(storeResponses(ok.stderr).filter((r) => r.status === 'Success')).toHaveLength(series.length);
    const echo = await runTool('echoscu', ['-v', ...tlsArgs(pki.client), '-aec', d.aeTitle, '127.0.0.1', String(d.port)]);
    expect(echo.code, echo.output).toBe(0);

    const before = d.logs.length;
    const refusedPeers = [
      ['no client certificate', tlsArgs()],
      ['a certificate from another CA', tlsArgs(pki.rogue)],
      ['plain TCP', []],
    ] as const;
    for (const [what, args] of refusedPeers) {
      const r = await storescu({ port: d.port }, files.slice(0, 1), [...args]);
      expect(r.code, `${what}: ${r.output}`).not.toBe(0);
      expect(storeResponses(r.stderr), what).toEqual([]);
    }
    await eventually('three refused handshakes logged', () => handshakeFailures(d, before).length >= 3);
    for (const l of handshakeFailures(d, before)) expect(l.port).toEqual(expect.any(Number));

    // The SR reaches the PACS that requires the node's client certificate.
    const { rows } = await settled(d, series[0]!.seriesUid);
    expect(rows.map((r) => [r.kind, r.state])).toEqual([['sr', 'sent']]);
    const received = receivedObjects(pacs.dir);
    expect(received.map((o) => o.sopClassUid)).toEqual([SopClass.comprehensiveSr]);
    expect(received[0]!.dataset.StudyInstanceUID).toBe(series[0]!.studyUid);
  }, 120_000);

  test('client certificates optional: anonymous TLS clients are accepted, the server is verified against the CA', async () => {
    const dir = tempDir();
    const d = await node(tlsConfig(false));
    const files = writeSlices(path.join(dir, 'in'), syntheticSeries({ slices: 2 }));
    const anonymous = await storescu({ port: d.port }, files, tlsArgs());
    expect(anonymous.code, anonymous.output).toBe(0);
    expect(storeResponses(anonymous.stderr).map((r) => r.status)).toEqual(['Success', 'Success']);
    // A client that trusts another CA refuses the node's certificate: the client side verifies.
    const distrustful = await storescu({ port: d.port }, files, ['+tla', '+cf', pki.rogue.cert]);
    expect(distrustful.code).not.toBe(0);
    expect(storeResponses(distrustful.stderr)).toEqual([]);
  }, 60_000);
});

/** An SMTP sink on TLS with the test server certificate, which the node does not trust by default. */
async function tlsSink(secure: boolean): Promise<SmtpSink> {
  const sink = await startSmtpSink(0, '127.0.0.1', { key: readFileSync(pki.server.key), cert: readFileSync(pki.server.cert), secure });
  deferCleanup(() => sink.close());
  return sink;
}

async function plainSink(): Promise<SmtpSink> {
  const sink = await startSmtpSink();
  deferCleanup(() => sink.close());
  return sink;
}

/** A node that emails every urgent series through `smtp`, and one urgent series sent to it. */
async function urgentEmail(smtp: Record<string, unknown>): Promise<{ d: TestDaemon; seriesUid: string }> {
  const d = await node({
    model: { thresholds: urgentThresholds },
    series: { idleSeconds: 1 },
    email: { enabled: true, smtp: { host: '127.0.0.1', ...smtp }, to: ['oncall@hospital.example'] },
    dispatch: { retry: { initialSeconds: 0.5, maxSeconds: 1, maxAttempts: 20 } },
  });
  const series = syntheticSeries({ slices: 8 });
  const r = await storescu({ port: d.port }, writeSlices(path.join(d.dir, 'in'), series));
  expect(r.code, r.output).toBe(0);
  return { d, seriesUid: series[0]!.seriesUid };
}

function emailRow(d: TestDaemon, seriesUid: string) {
  const db = d.openDb();
  try {
    return db.prepare("SELECT state, attempts, last_error AS error FROM outbox WHERE series_uid = ? AND kind = 'email'").get(seriesUid) as { state: string; attempts: number; error: string | null } | undefined;
  } finally {
    db.close();
  }
}

describe('SMTP over TLS', () => {
  test('implicit TLS (secure): delivered encrypted', async () => {
    const sink = await tlsSink(true);
    const { d, seriesUid } = await urgentEmail({ port: sink.port, secure: true, rejectUnauthorized: false });
    const [mail] = await sink.waitForCount(1);
    expect(mail!.secure).toBe(true);
    await eventually('the email row sent', () => emailRow(d, seriesUid)?.state === 'sent');
  }, 60_000);

  test('STARTTLS with requireTls: upgraded before the message; a server without STARTTLS gets nothing', async () => {
    const sink = await tlsSink(false);
    const { d, seriesUid } = await urgentEmail({ port: sink.port, secure: false, requireTls: true, rejectUnauthorized: false });
    const [mail] = await sink.waitForCount(1);
    expect(mail!.secure).toBe(true);
    await eventually('the email row sent', () => emailRow(d, seriesUid)?.state === 'sent');

    const plain = await plainSink();
    const refused = await urgentEmail({ port: plain.port, secure: false, requireTls: true });
    const row = await eventually('the email row retried', () => {
      const r = emailRow(refused.d, refused.seriesUid);
      return r && r.attempts >= 2 && r;
    });
    // Retried like an unreachable server (the relay may get its TLS back), never sent in clear.
    expect(row.state).toBe('pending');
    expect(row.error).toMatch(/^smtp: Error upgrading connection with STARTTLS/);
    expect(plain.messages).toEqual([]);
  }, 60_000);

  test('the server certificate is verified by default: an untrusted one gets no message', async () => {
    const sink = await tlsSink(true);
    const { d, seriesUid } = await urgentEmail({ port: sink.port, secure: true });
    const row = await eventually('the email row retried', () => {
      const r = emailRow(d, seriesUid);
      return r && r.attempts >= 2 && r;
    });
    expect(row.state).toBe('pending');
    expect(row.error).toMatch(/^smtp: .*(certificate|self.signed|issuer)/i);
    expect(sink.messages).toEqual([]);
    expect(seriesOutputs(d, seriesUid).series?.state).toBe('decided');
  }, 60_000);
});
