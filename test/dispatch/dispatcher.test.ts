import { afterEach, expect, test } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pino } from 'pino';
import { openDb, migrate, type Db } from '../../src/store/db.js';
import { OutboxStore, type NewOutput, type OutboxRow } from '../../src/store/outbox.js';
import { Dispatcher, type DispatchSettings } from '../../src/dispatch/dispatcher.js';
import dimse from 'dcmjs-dimse';
import { syntheticSlice, type Slice } from '../helpers/synthetic.js';
import { compressFiles, runTool, startTool } from '../helpers/dcmtk.js';
import { eventually, readDataset, receivedObjects, startPacs } from './peers.js';
import { freePort } from '../helpers/ports.js';
import { deferCleanup, tearDown, tempDir } from './harness.js';

// The dispatcher and its C-STORE SCU against a scripted peer that answers each instance with a
// chosen status: how every kind of answer lands on the outbox row.

afterEach(tearDown);

const silent = pino({ level: 'silent' });
const t0 = 1_700_000_000_000;

interface Peer {
  port: number;
  associations: number;
  received: string[];
}

const { Server, Scp, responses, constants } = dimse;
const storagePrefix = '1.2.840.10008.5.1.4.1.1.';

/**
 * A PACS on dcmjs-dimse's own Scp that answers each SOP Instance UID with the status in
 * `answers` (success otherwise), accepts storage SOP Classes only, and can refuse associations.
 */
async function scriptedPeer(answers: Map<string, { status: number; comment: string }>, policy: { refuseCallingAe?: string } = {}): Promise<Peer> {
  const peer: Peer = { port: await freePort(), associations: 0, received: [] };
  class ScriptedScp extends Scp {
    override associationRequested(association: dimse.association.Association): void {
      // Network methods missing from dcmjs-dimse's type declarations.
      const self = this as unknown as { sendAssociationAccept(): void; sendAssociationReject(result: number, source: number, reason: number): void };
      if (association.getCallingAeTitle() === policy.refuseCallingAe) {
        self.sendAssociationReject(constants.RejectResult.Permanent, constants.RejectSource.ServiceUser, constants.RejectReason.CallingAeNotRecognized);
        return;
      }
      peer.associations++;
      for (const { id } of association.getPresentationContexts()) {
        const context = association.getPresentationContext(id);
        if (context.getAbstractSyntaxUid().startsWith(storagePrefix)) {
          context.setResult(constants.PresentationContextResult.Accept, context.getTransferSyntaxUids()[0]!);
        } else {
          context.setResult(constants.PresentationContextResult.RejectAbstractSyntaxNotSupported);
        }
      }
      self.sendAssociationAccept();
    }
    override associationReleaseRequested(): void {
      (this as unknown as { sendAssociationReleaseResponse(): void }).sendAssociationReleaseResponse();
    }
    override cStoreRequest(request: dimse.requests.CStoreRequest, callback: (response: dimse.responses.CStoreResponse) => void): void {
      const uid = request.getAffectedSopInstanceUid();
      peer.received.push(uid);
      const answer = answers.get(uid);
      const response = responses.CStoreResponse.fromRequest(request);
      response.setStatus(answer?.status ?? constants.Status.Success);
      if (answer) response.setErrorComment(answer.comment);
      callback(response);
    }
  }
  const server = new Server(ScriptedScp);
  server.listen(peer.port);
  deferCleanup(() => server.close());
  return peer;
}

function outbox(dir: string): { db: Db; store: OutboxStore } {
  const db = openDb(path.join(dir, 'ich-triage.db'));
  migrate(db);
  deferCleanup(() => void db.close());
  return { db, store: new OutboxStore(db) };
}

/** Writes a payload under dataDir/outbox and queues a row for it. */
function queue(
  store: OutboxStore,
  dataDir: string,
  name: string,
  o: { sopClassUid?: string; write?: boolean; kind?: NewOutput['kind']; slice?: Slice; bytes?: Buffer } = {},
): { id: number; sopInstanceUid: string } {
  const slice = o.slice ?? syntheticSlice({ sopClassUid: o.sopClassUid });
  const payloadPath = path.join('outbox', `${name}.dcm`);
  if (o.write !== false) {
    mkdirSync(path.join(dataDir, 'outbox'), { recursive: true });
    writeFileSync(path.join(dataDir, payloadPath), o.bytes ?? slice.file);
  }
  store.add({ key: `${o.kind ?? 'sr'}:${name}`, seriesUid: 'series', kind: o.kind ?? 'sr', destination: 'pacs', payloadPath, payload: null }, t0);
  const row = store.latest(1)[0]!;
  return { id: row.id, sopInstanceUid: slice.sopInstanceUid };
}

function dispatcher(
  store: OutboxStore,
  dataDir: string,
  port: number,
  clock: { now: number },
  retry = { initialSeconds: 5, maxSeconds: 60, maxAttempts: 5 },
  tls?: DispatchSettings['tls'],
): Dispatcher {
  const settings: DispatchSettings = {
    destinations: [{ name: 'pacs', aeTitle: 'PACS', host: '127.0.0.1', port, send: ['sr', 'kos'], forward: false, tls: tls !== undefined }],
    retry,
    callingAeTitle: 'ICH_TRIAGE',
    dataDir,
    timeoutMs: 5000,
    tls,
  };
  return new Dispatcher(store, () => settings, async () => ({ ok: true, status: null }), silent, undefined, () => clock.now);
}

const row = (store: OutboxStore, id: number): OutboxRow => store.get(id)!;

test('each C-STORE answer settles its own row: success and warning sent, 0xA7xx retried with backoff, 0xC000, an unreadable payload and an unsupported SOP Class failed for good; one association', async () => {
  const dir = tempDir();
  const { store } = outbox(dir);
  const ok = queue(store, dir, 'ok');
  const warning = queue(store, dir, 'warning');
  const busy = queue(store, dir, 'busy');
  const refused = queue(store, dir, 'refused');
  const missing = queue(store, dir, 'missing', { write: false });
  // Not a storage SOP Class: the node's SCP rejects its presentation context.
  const unsupported = queue(store, dir, 'unsupported', { sopClassUid: '1.2.840.10008.1.20.1' });
  const peer = await scriptedPeer(
    new Map([
      [warning.sopInstanceUid, { status: 0xb000, comment: 'coerced' }],
      [busy.sopInstanceUid, { status: 0xa702, comment: 'disk full' }],
      [refused.sopInstanceUid, { status: 0xc000, comment: 'cannot parse' }],
    ]),
  );
  const clock = { now: t0 };
  expect(await dispatcher(store, dir, peer.port, clock).runOnce()).toBe(true);

  expect(peer.associations).toBe(1);
  expect(peer.received.sort()).toEqual([ok, warning, busy, refused].map((r) => r.sopInstanceUid).sort());
  expect(row(store, ok.id)).toMatchObject({ state: 'sent', attempts: 1, lastStatus: 0, lastError: null, sentAt: t0 });
  expect(row(store, warning.id)).toMatchObject({ state: 'sent', attempts: 1, lastStatus: 0xb000 });
  expect(row(store, busy.id)).toMatchObject({ state: 'pending', attempts: 1, lastStatus: 0xa702, nextAttemptAt: t0 + 5000, lastError: 'rejected: 0xA702 Out of Resources (disk full)' });
  expect(row(store, refused.id)).toMatchObject({ state: 'failed', attempts: 1, lastStatus: 0xc000, lastError: 'rejected: 0xC000 Cannot understand (cannot parse)' });
  expect(row(store, missing.id)).toMatchObject({ state: 'failed', attempts: 1, lastStatus: null });
  expect(row(store, missing.id).lastError).toMatch(/^cannot read the payload: ENOENT/);
  expect(row(store, unsupported.id)).toMatchObject({ state: 'failed', attempts: 1, lastError: 'the peer accepted no presentation context for SOP Class 1.2.840.10008.1.20.1' });

  // Nothing is due before the backoff ends; then the busy row goes again, alone.
  clock.now = t0 + 4999;
  expect(await dispatcher(store, dir, peer.port, clock).runOnce()).toBe(false);
  clock.now = t0 + 5000;
  expect(await dispatcher(store, dir, peer.port, clock).runOnce()).toBe(true);
  expect(row(store, busy.id)).toMatchObject({ state: 'pending', attempts: 2, nextAttemptAt: t0 + 5000 + 10_000 });
  expect(peer.associations).toBe(2);
});

test('an unreachable peer and a rejected association are retried and told apart; maxAttempts ends in failed', async () => {
  const dir = tempDir();
  const { store } = outbox(dir);
  const a = queue(store, dir, 'a');
  const clock = { now: t0 };
  const retry = { initialSeconds: 1, maxSeconds: 60, maxAttempts: 3 };
  const closedPort = await freePort();
  await dispatcher(store, dir, closedPort, clock, retry).runOnce();
  expect(row(store, a.id)).toMatchObject({ state: 'pending', attempts: 1, lastStatus: null, nextAttemptAt: t0 + 1000 });
  expect(row(store, a.id).lastError).toMatch(/^unreachable: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);

  const picky = await scriptedPeer(new Map(), { refuseCallingAe: 'ICH_TRIAGE' });
  clock.now = t0 + 1000;
  await dispatcher(store, dir, picky.port, clock, retry).runOnce();
  expect(row(store, a.id)).toMatchObject({ state: 'pending', attempts: 2, nextAttemptAt: t0 + 1000 + 2000 });
  expect(row(store, a.id).lastError).toBe('association rejected by the peer: permanent, calling AE title not recognized');

  clock.now = t0 + 3000;
  await dispatcher(store, dir, closedPort, clock, retry).runOnce();
  expect(row(store, a.id)).toMatchObject({ state: 'failed', attempts: 3 });
  expect(picky.received).toEqual([]);
});

test('results go before forwards: a routing backlog does not hold back an SR', async () => {
  const dir = tempDir();
  const { store } = outbox(dir);
  const forwards = Array.from({ length: 120 }, (_, i) => queue(store, dir, `f${i}`, { kind: 'forward' }));
  const sr = queue(store, dir, 'sr');
  expect(store.due(t0, 100).map((r) => r.id)).toEqual([sr.id, ...forwards.slice(0, 99).map((f) => f.id)]);
});

/** A test CA and a server certificate for 127.0.0.1 signed by it (openssl, EC keys: fast). */
async function testCertificates(dir: string): Promise<{ ca: string; key: string; cert: string }> {
  const f = (name: string) => path.join(dir, name);
  writeFileSync(f('ext'), 'subjectAltName=IP:127.0.0.1\n');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const args of [
    ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=ich-triage test CA'],
    ['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1'],
    ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('ext')],
  ]) {
    const r = await runTool('openssl', args);
    expect(r.code, r.output).toBe(0);
  }
  return { ca: f('ca.pem'), key: f('server.key'), cert: f('server.crt') };
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

test('tls: true destinations get DICOM TLS, the peer verified against dicom.tls.ca', async () => {
  const dir = tempDir();
  const certs = await testCertificates(dir);
  const port = await freePort();
  // storescp over TLS, not asking for a client certificate (-ic).
  const scp = startTool('storescp', ['+tls', certs.key, certs.cert, '-ic', '+uf', '-aet', 'PACS', '-od', path.join(dir, 'received'), String(port)]);
  deferCleanup(async () => {
    scp.child.kill();
    await scp.done;
  });
  mkdirSync(path.join(dir, 'received'));
  // Readiness without a DICOM exchange (echoscu would need TLS too): the port takes connections.
  await eventually('storescp listening', () => acceptsConnections(port));
  const { store } = outbox(dir);
  const clock = { now: t0 };
  const untrusted = queue(store, dir, 'untrusted');
  // Without the test CA the certificate cannot be verified: not sent, and retried.
  await dispatcher(store, dir, port, clock, undefined, { enabled: false, cert: '', key: '', ca: '', requireClientCert: false }).runOnce();
  expect(row(store, untrusted.id)).toMatchObject({ state: 'pending', attempts: 1 });
  expect(row(store, untrusted.id).lastError).toMatch(/^unreachable: .*(certificate|self.signed)/i);

  clock.now = t0 + 5000;
  await dispatcher(store, dir, port, clock, undefined, { enabled: false, cert: '', key: '', ca: certs.ca, requireClientCert: false }).runOnce();
  expect(row(store, untrusted.id)).toMatchObject({ state: 'sent', attempts: 2, lastStatus: 0 });
  expect(receivedObjects(path.join(dir, 'received')).map((o) => o.sopInstanceUid)).toEqual([untrusted.sopInstanceUid]);
});

test('a compressed instance reaches a peer that takes uncompressed data only, decompressed losslessly; one that cannot be converted fails for good', async () => {
  const dir = tempDir();
  const { store } = outbox(dir);
  const slice = syntheticSlice({ rows: 64, columns: 64, bleed: { x: 0.4, y: 0.5, radius: 0.1, hu: 70 } });
  writeFileSync(path.join(dir, 'plain.dcm'), slice.file);
  const [jpegLs] = await compressFiles([path.join(dir, 'plain.dcm')], 'jpegls', path.join(dir, 'jls'));
  const forward = queue(store, dir, 'jls', { kind: 'forward', slice, bytes: readFileSync(jpegLs!) });
  // Deflated Explicit VR Little Endian: dcmjs-dimse cannot convert it.
  const deflatedSlice = syntheticSlice();
  writeFileSync(path.join(dir, 'plain2.dcm'), deflatedSlice.file);
  const deflate = await runTool('dcmconv', ['+td', path.join(dir, 'plain2.dcm'), path.join(dir, 'deflated.dcm')]);
  expect(deflate.code, deflate.output).toBe(0);
  const deflated = queue(store, dir, 'deflated', { kind: 'forward', slice: deflatedSlice, bytes: readFileSync(path.join(dir, 'deflated.dcm')) });
  // dcmtk storescp's default: Explicit and Implicit VR Little Endian only.
  const pacs = await startPacs(path.join(dir, 'pacs'), 'PACS');
  deferCleanup(() => pacs.stop());
  await dispatcher(store, dir, pacs.port, { now: t0 }).runOnce();
  expect(row(store, forward.id)).toMatchObject({ state: 'sent', lastStatus: 0 });
  const received = receivedObjects(pacs.dir).find((o) => o.sopInstanceUid === slice.sopInstanceUid);
  expect(receivedObjects(pacs.dir)).toHaveLength(1);
  expect(received!.sopInstanceUid).toBe(slice.sopInstanceUid);
  const sentPixels = Buffer.from(received!.dataset.PixelData[0] as ArrayBuffer);
  const original = readDataset(slice.file).PixelData[0] as ArrayBuffer;
  expect(sentPixels.equals(Buffer.from(original))).toBe(true);
  expect(row(store, deflated.id)).toMatchObject({ state: 'failed', attempts: 1 });
  expect(row(store, deflated.id).lastError).toMatch(/^the peer accepted 1\.2\.840\.10008\.1\.2(\.1)? only; the object is in 1\.2\.840\.10008\.1\.2\.1\.99 and could not be converted$/);
});
