import dimse from 'dcmjs-dimse';
import '../dicom/dcmjs.js';
import { errorMessage } from '../errors.js';
import { statusName } from '../dicom/status.js';

const { Client, requests, constants } = dimse;

export interface StorePeer {
  host: string;
  port: number;
  aeTitle: string;
  callingAeTitle: string;
  timeoutMs: number;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

/** Per file: the peer's status, or why there was none (unreachable, rejected association). */
export type StoreAttempt = { status: number; comment?: string } | { unreachable: string };

/**
 * Sends files in one association (C-STORE SCU). Resolves with one attempt per file, in order;
 * never rejects: network failures become `unreachable` entries.
 */
export function storeFiles(peer: StorePeer, files: readonly string[]): Promise<StoreAttempt[]> {
  return new Promise((resolve) => {
    const results: Array<StoreAttempt | undefined> = files.map(() => undefined);
    let failure: string | undefined;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(results.map((r) => r ?? { unreachable: failure ?? 'the peer accepted no presentation context for this object' }));
    };
    const client = new Client();
    files.forEach((file, i) => {
      const request = new requests.CStoreRequest(file);
      request.on('response', (response: dimse.responses.CStoreResponse) => {
        const status = response.getStatus();
        if (status === constants.Status.Pending) return;
        results[i] = { status, comment: response.getErrorComment() || undefined };
      });
      client.addRequest(request);
    });
    client.on('associationRejected', (r: { result: number; source: number; reason: number }) => {
      failure = `association rejected (result ${r.result}, source ${r.source}, reason ${r.reason})`;
    });
    client.on('networkError', (err: Error) => {
      failure ??= errorMessage(err);
    });
    client.on('closed', finish);
    // A peer that never answers: give up after the timeout, the outbox retries.
    const timer = setTimeout(() => {
      failure ??= `no answer within ${peer.timeoutMs} ms`;
      finish();
    }, peer.timeoutMs * 2 + 1000);
    try {
      client.send(peer.host, peer.port, peer.callingAeTitle, peer.aeTitle, {
        connectTimeout: peer.timeoutMs,
        associationTimeout: peer.timeoutMs,
        pduTimeout: peer.timeoutMs,
        associationLingerTimeout: 0,
        securityOptions: peer.tls,
      });
    } catch (err) {
      failure = errorMessage(err);
      finish();
    }
  });
}

export function describeAttempt(a: StoreAttempt): string {
  return 'unreachable' in a ? `unreachable: ${a.unreachable}` : `${statusName(a.status)}${a.comment ? ` (${a.comment})` : ''}`;
}
