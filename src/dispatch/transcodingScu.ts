import net from 'node:net';
import tls from 'node:tls';
import dimse from '../dicom/dimse.js';
import { describeReject } from '../dicom/upperLayer.js';
import { errorMessage } from '../errors.js';
import type { StoreAttempt, StorePeer } from './storeScu.js';

const { Client, requests, constants } = dimse;

let transcodingStart: Promise<void> | undefined;

/**
 * dcmjs-dimse proposes each object's own transfer syntax plus the uncompressed ones, and when
 * the peer accepts only an uncompressed one it decompresses, but only once its codecs
 * (dcmjs-codecs WASM) are started. Without them a forwarded JPEG-LS, JPEG lossless or RLE
 * instance never reached a peer that takes uncompressed data only: dcmjs-dimse dropped the
 * request and the row was retried until it failed. The codecs are the same instance that
 * src/dicom/codecs.ts starts (and drops after a corrupt stream) on this thread, hence the
 * check before every association. If they cannot start, such objects fail as before.
 */
async function transcodingReady(): Promise<void> {
  if (dimse.Transcoding.isInitialized()) return;
  transcodingStart ??= dimse.Transcoding.initializeAsync().finally(() => (transcodingStart = undefined));
  await transcodingStart.catch(() => undefined);
}

/**
 * Sends files in one association through dcmjs-dimse, which proposes each object's own transfer
 * syntax plus the uncompressed ones and converts when the peer takes only the latter. It parses
 * and re-encodes every data set on the event loop (~20 ms a 512x512 slice), so it is kept for
 * the instances the peer would not take as stored (see storeFiles).
 */
export async function storeTranscoding(peer: StorePeer, files: readonly string[]): Promise<StoreAttempt[]> {
  await transcodingReady();
  return storeInOneAssociation(peer, files);
}

function storeInOneAssociation(peer: StorePeer, files: readonly string[]): Promise<StoreAttempt[]> {
  return new Promise((resolve) => {
    const results: Array<StoreAttempt | undefined> = files.map(() => undefined);
    let failure: string | undefined;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(
        results.map((r, i) => {
          if (r) return r;
          // dcmjs-dimse drops a request it cannot convert to the accepted syntax (deflated data,
          // say) without a word, and the association goes on: the same bytes will fail again.
          const conversion = failure === undefined ? conversions.get(i) : undefined;
          if (conversion) return { unsendable: `the peer accepted ${conversion.to} only; the object is in ${conversion.from} and could not be converted` };
          return { unreachable: failure ?? 'the association ended before the peer answered' };
        }),
      );
    };
    const client = new Client();
    const sent: Array<{ index: number; request: dimse.requests.CStoreRequest }> = [];
    /** Requests whose accepted transfer syntax is not the object's own. */
    const conversions = new Map<number, { from: string; to: string }>();
    files.forEach((file, index) => {
      let request: dimse.requests.CStoreRequest;
      try {
        // Reads the whole file now; a missing payload (removed by hand or by retention before an
        // `outbox retry`) must fail its own row, not the association of every other row.
        request = new requests.CStoreRequest(file);
      } catch (err) {
        results[index] = { unsendable: `cannot read the payload: ${errorMessage(err)}` };
        return;
      }
      request.on('response', (response: dimse.responses.CStoreResponse) => {
        const status = response.getStatus();
        if (status === constants.Status.Pending) return;
        results[index] = { status, comment: response.getErrorComment() || undefined };
      });
      client.addRequest(request);
      sent.push({ index, request });
    });
    // A peer that never answers: give up after the timeout, the outbox retries.
    const timer = setTimeout(() => {
      failure ??= `unreachable: no answer within ${peer.timeoutMs} ms`;
      finish();
    }, peer.timeoutMs * 2 + 1000);
    if (sent.length === 0) {
      finish();
      return;
    }
    client.on('associationAccepted', (association: dimse.association.Association) => {
      // dcmjs-dimse skips a request without an accepted context silently; say which and why.
      for (const { index, request } of sent) {
        const context = association.getAcceptedPresentationContextFromRequest(request);
        if (!context) {
          results[index] = { unsendable: `the peer accepted no presentation context for SOP Class ${request.getAffectedSopClassUid()}` };
          continue;
        }
        const from = request.getDataset()?.getTransferSyntaxUid();
        const to = context.getAcceptedTransferSyntaxUid();
        if (from && to && from !== to) conversions.set(index, { from, to });
      }
    });
    client.on('associationRejected', (r: { result: number; source: number; reason: number }) => {
      failure = `association rejected by the peer: ${describeReject(r)}`;
    });
    client.on('networkError', (err: Error) => {
      failure ??= `unreachable: ${networkErrorText(err)}`;
    });
    client.on('closed', finish);
    try {
      withNoDelay(() =>
        client.send(peer.host, peer.port, peer.callingAeTitle, peer.aeTitle, {
          connectTimeout: peer.timeoutMs,
          associationTimeout: peer.timeoutMs,
          pduTimeout: peer.timeoutMs,
          associationLingerTimeout: 0,
          securityOptions: peer.tls,
        }),
      );
    } catch (err) {
      failure = `unreachable: ${errorMessage(err)}`;
      finish();
    }
  });
}

/**
 * Runs `send` with TCP no-delay on the sockets it opens. dcmjs-dimse's Client connects with
 * `net.connect`/`tls.connect` and never sets no-delay: a C-STORE's command and data set go out
 * as separate writes and Nagle holds the second until the peer's delayed ACK, ~40 ms per
 * object (DESIGN.md 5 measured the same on the SCP side). The Client opens its socket
 * synchronously inside send(), so the wrappers are in place only for that call.
 */
function withNoDelay(send: () => void): void {
  const netConnect = net.connect;
  const tlsConnect = tls.connect;
  const mutableNet = net as { connect: typeof net.connect };
  const mutableTls = tls as { connect: typeof tls.connect };
  mutableNet.connect = ((...args: Parameters<typeof net.connect>) => netConnect(...args).setNoDelay(true)) as typeof net.connect;
  mutableTls.connect = ((...args: Parameters<typeof tls.connect>) => {
    const socket = tlsConnect(...args);
    socket.setNoDelay(true);
    return socket;
  }) as typeof tls.connect;
  try {
    send();
  } finally {
    mutableNet.connect = netConnect;
    mutableTls.connect = tlsConnect;
  }
}

/** dcmjs-dimse prefixes its errors with the peer's log id ("PACS -> Connection error: ..."). */
function networkErrorText(err: Error): string {
  return errorMessage(err).replace(/^.*?-> (Connection error: )?/, '');
}
