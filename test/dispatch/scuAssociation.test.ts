// ScuAssociation against a scripted acceptor that speaks raw PDUs: what reaches the peer, byte
// for byte, and what each misbehaviour of a peer becomes (the outbox row's words).
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { cStoreResponse } from '../../src/dicom/commandSet.js';
import { AssociationLost, ScuAssociation } from '../../src/dispatch/scuAssociation.js';
import type { StorePeer } from '../../src/dispatch/storeScu.js';
import { freePort } from '../helpers/ports.js';
import { abortPdu, associateAc, associateRj, parseResponse, pDataTf, PduType, RawPeer, type DimseResponse } from '../helpers/rawPeer.js';

const ctImage = '1.2.840.10008.5.1.4.1.1.2';
const explicitLittle = '1.2.840.10008.1.2.1';
const context = { id: 1, abstractSyntax: ctImage, transferSyntaxes: [explicitLittle] };

const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A one-connection acceptor running `script`; resolves with the peer settings to reach it. */
async function acceptor(script: (peer: RawPeer) => Promise<void>, timeoutMs = 5000): Promise<{ peer: StorePeer; done: Promise<void> }> {
  let finished!: (p: Promise<void>) => void;
  const done = new Promise<Promise<void>>((resolve) => (finished = resolve)).then((p) => p);
  const server = net.createServer((socket) => finished(script(RawPeer.accepted(socket))));
  servers.push(server);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { peer: { host: '127.0.0.1', port, aeTitle: 'PACS', callingAeTitle: 'ICH_TRIAGE', timeoutMs }, done };
}

/** Reads A-ASSOCIATE-RQ and accepts context 1 with the longest PDU `maxPdu`. */
async function accept(peer: RawPeer, maxPdu = 16_384): Promise<void> {
  const rq = await peer.readPdu();
  expect(rq?.type).toBe(PduType.AssociateRQ);
  await peer.send(associateAc([{ id: 1, result: 0, transferSyntax: explicitLittle }], maxPdu));
}

/** Reads one C-STORE request: its command, its data set, and the largest PDU body it came in. */
async function receiveStore(peer: RawPeer): Promise<{ command: DimseResponse; dataSet: Buffer; largestPdu: number }> {
  const command: Buffer[] = [];
  const data: Buffer[] = [];
  let largestPdu = 0;
  for (;;) {
    const pdu = await peer.readPdu();
    if (pdu?.type !== PduType.PDataTF) throw new Error(`PDU ${pdu?.type} instead of P-DATA-TF`);
    largestPdu = Math.max(largestPdu, pdu.body.length);
    for (let offset = 0; offset < pdu.body.length; ) {
      const length = pdu.body.readUInt32BE(offset);
      const control = pdu.body[offset + 5]!;
      ((control & 1) === 1 ? command : data).push(pdu.body.subarray(offset + 6, offset + 4 + length));
      offset += 4 + length;
      if (control === 0x02) return { command: parseResponse(Buffer.concat(command)), dataSet: Buffer.concat(data), largestPdu };
    }
  }
}

async function failure(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AssociationLost);
  return (err as Error).message;
}

describe('ScuAssociation', () => {
  it('sends the data set byte for byte within the peer PDU limit, and reads a response cut into two PDUs of one write', async () => {
    const dataSet = randomBytes(100_001);
    let received: Awaited<ReturnType<typeof receiveStore>> | undefined;
    let released = false;
    const { peer, done } = await acceptor(async (p) => {
      await accept(p);
      received = await receiveStore(p);
      const response = cStoreResponse({ sopClassUid: ctImage, sopInstanceUid: '1.2.3', messageId: received.command.messageId!, status: 0xb000, errorComment: 'coerced' });
      const half = response.length >> 1;
      await p.send(Buffer.concat([pDataTf([{ contextId: 1, control: 0x01, value: response.subarray(0, half) }]), pDataTf([{ contextId: 1, control: 0x03, value: response.subarray(half) }])]));
      released = (await p.readPdu())?.type === PduType.ReleaseRQ;
      await p.send(Buffer.from([PduType.ReleaseRP, 0, 0, 0, 0, 4, 0, 0, 0, 0]));
    });
    const association = await ScuAssociation.open(peer, [context]);
    expect(association.contexts.get(1)).toEqual({ id: 1, result: 0, transferSyntax: explicitLittle });
    expect(await association.store(1, ctImage, '1.2.3', dataSet)).toEqual({ status: 0xb000, comment: 'coerced' });
    await association.release();
    await done;
    expect(received!.dataSet.equals(dataSet)).toBe(true);
    expect(received!.largestPdu).toBeLessThanOrEqual(16_384);
    expect(received!.command).toMatchObject({ commandField: 0x0001, messageId: 1 });
    expect(released).toBe(true);
  });

  it('says why the peer rejected the association', async () => {
    const { peer } = await acceptor(async (p) => {
      await p.readPdu();
      await p.send(associateRj(1, 1, 7));
    });
    expect(await failure(ScuAssociation.open(peer, [context]))).toBe('association rejected by the peer: permanent, called AE title not recognized');
  });

  it('reports an A-ABORT in place of the response', async () => {
    const { peer } = await acceptor(async (p) => {
      await accept(p);
      await receiveStore(p);
      await p.send(abortPdu());
    });
    const association = await ScuAssociation.open(peer, [context]);
    expect(await failure(association.store(1, ctImage, '1.2.3', randomBytes(1000)))).toBe('the peer aborted the association');
  });

  it('gives up on a silent peer after its timeout and aborts the association', async () => {
    let afterSilence: number | undefined;
    const { peer, done } = await acceptor(async (p) => {
      await accept(p);
      await receiveStore(p);
      afterSilence = (await p.readPdu())?.type;
    }, 300);
    const association = await ScuAssociation.open(peer, [context]);
    expect(await failure(association.store(1, ctImage, '1.2.3', randomBytes(1000)))).toBe('unreachable: no C-STORE response within 300 ms');
    await done;
    expect(afterSilence).toBe(PduType.Abort);
  });

  it('treats a response to another message as a broken protocol', async () => {
    const { peer } = await acceptor(async (p) => {
      await accept(p);
      await receiveStore(p);
      await p.send(pDataTf([{ contextId: 1, control: 0x03, value: cStoreResponse({ sopClassUid: ctImage, sopInstanceUid: '1.2.3', messageId: 7, status: 0 }) }]));
    });
    const association = await ScuAssociation.open(peer, [context]);
    expect(await failure(association.store(1, ctImage, '1.2.3', randomBytes(10)))).toBe('the peer broke the protocol: a response to message 7 while message 1 waited');
  });

  it('refuses a PDU longer than it takes before buffering it', async () => {
    const { peer } = await acceptor(async (p) => {
      await p.readPdu();
      await p.send(Buffer.from([PduType.AssociateAC, 0, 0xff, 0xff, 0xff, 0xff]));
    });
    expect(await failure(ScuAssociation.open(peer, [context]))).toMatch(/^the peer broke the protocol: the peer sent a PDU of 4294967295 bytes/);
  });

  it('says unreachable when nobody listens', async () => {
    const port = await freePort();
    const peer = { host: '127.0.0.1', port, aeTitle: 'PACS', callingAeTitle: 'ICH_TRIAGE', timeoutMs: 2000 };
    expect(await failure(ScuAssociation.open(peer, [context]))).toMatch(/^unreachable: .*ECONNREFUSED/);
  });
});
