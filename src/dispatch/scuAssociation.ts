import net from 'node:net';
import tls from 'node:tls';
import { cStoreRequest, parseCommand, type CommandFields } from '../dicom/commandSet.js';
import {
  abortPdu,
  associateRequestPdu,
  describeReject,
  parseAssociateAccept,
  parseAssociateReject,
  pDataHeader,
  pdvHeaderLength,
  pdvs,
  Pdv,
  PduReader,
  PduType,
  releaseRequestPdu,
  type ContextResult,
  type Pdu,
  type ProposedContext,
} from '../dicom/upperLayer.js';
import { errorMessage } from '../errors.js';
import type { StorePeer } from './storeScu.js';

/** Status codes that announce a further response (PS3.7 C). */
const pending = new Set([0xff00, 0xff01]);
/** The longest PDU we take from a peer: ours are answers to C-STOREs, a few hundred bytes. */
const maxIncomingPdu = 1024 * 1024;
/** Data set PDVs are cut at this size when the peer sets no smaller limit (0 means none). */
const maxPdvValue = 1024 * 1024 - pdvHeaderLength;
/** PDUs a peer may send ahead of our reading them (one TCP chunk can hold several). */
const maxUnread = 64;

/**
 * The association cannot be used any further: the peer is unreachable, silent, rejected or
 * aborted it, or broke the protocol. The message says which, in words for the outbox row.
 */
export class AssociationLost extends Error {}

/**
 * One association as requester (C-STORE SCU) on our own PDU codec: a data set goes out as the
 * bytes stored, never parsed and re-encoded, one instance at a time. Every wait is bounded by
 * the peer's timeout.
 */
export class ScuAssociation {
  private readonly reader = new PduReader(maxIncomingPdu);
  private waiter: { resolve: (pdu: Pdu) => void; reject: (err: Error) => void } | undefined;
  /** PDUs received while nothing waited: the rest of a chunk that held several. */
  private readonly unread: Pdu[] = [];
  private lost: AssociationLost | undefined;
  private nextMessageId = 1;
  /** Results of the proposed contexts, by ID. */
  contexts = new Map<number, ContextResult>();
  private peerMaxPdu = 0;

  private constructor(
    private readonly socket: net.Socket,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => {
      let received: Pdu[];
      try {
        received = this.reader.push(chunk);
      } catch (err) {
        this.abort(protocolError(errorMessage(err)));
        return;
      }
      for (const pdu of received) this.deliver(pdu);
    });
    socket.on('error', (err) => this.fail(new AssociationLost(`unreachable: ${errorMessage(err)}`)));
    socket.on('close', () => this.fail(new AssociationLost('the association ended before the peer answered')));
  }

  /**
   * Connects and negotiates; rejects with AssociationLost when the peer cannot be reached, does
   * not answer in time, or rejects the association (the reason in words).
   */
  static async open(peer: StorePeer, contexts: readonly ProposedContext[]): Promise<ScuAssociation> {
    const socket = await connect(peer);
    const association = new ScuAssociation(socket, peer.timeoutMs);
    socket.write(associateRequestPdu({ calledAe: peer.aeTitle, callingAe: peer.callingAeTitle, contexts, maxPduLength: maxIncomingPdu }));
    const reply = await association.next('answer to A-ASSOCIATE-RQ');
    if (reply.type === PduType.AssociateRJ) {
      socket.destroy();
      throw new AssociationLost(`association rejected by the peer: ${describeReject(parseAssociateReject(reply.body))}`);
    }
    if (reply.type !== PduType.AssociateAC) throw association.abort(protocolError(`PDU type 0x${reply.type.toString(16)} in answer to A-ASSOCIATE-RQ`));
    try {
      const accept = parseAssociateAccept(reply.body);
      association.contexts = new Map(accept.contexts.map((c) => [c.id, c]));
      association.peerMaxPdu = accept.maxPduLength;
    } catch (err) {
      throw association.abort(protocolError(`malformed A-ASSOCIATE-AC: ${errorMessage(err)}`));
    }
    return association;
  }

  /**
   * C-STORE of one data set (its bytes as stored, in the context's transfer syntax); resolves
   * with the peer's final status, rejects with AssociationLost.
   */
  async store(contextId: number, sopClassUid: string, sopInstanceUid: string, dataSet: Buffer): Promise<{ status: number; comment?: string }> {
    if (this.lost) throw this.lost;
    const messageId = this.nextMessageId++ & 0xffff;
    const command = cStoreRequest({ sopClassUid, sopInstanceUid, messageId });
    const fragment = this.peerMaxPdu > pdvHeaderLength ? Math.min(this.peerMaxPdu - pdvHeaderLength, maxPdvValue) : maxPdvValue;
    this.socket.cork();
    this.send(contextId, Pdv.Command | Pdv.Last, command);
    for (let offset = 0; offset < dataSet.length || offset === 0; offset += fragment) {
      const last = offset + fragment >= dataSet.length;
      this.send(contextId, last ? Pdv.Last : 0, dataSet.subarray(offset, offset + fragment));
      if (last) break;
    }
    this.socket.uncork();
    for (;;) {
      const command = await this.command(contextId);
      let response: CommandFields;
      try {
        response = parseCommand(command);
      } catch (err) {
        throw this.abort(protocolError(`malformed C-STORE response: ${errorMessage(err)}`));
      }
      if (response.messageIdBeingRespondedTo !== messageId) {
        throw this.abort(protocolError(`a response to message ${response.messageIdBeingRespondedTo ?? '(none)'} while message ${messageId} waited`));
      }
      if (response.status === undefined) throw this.abort(protocolError('a C-STORE response without a status'));
      if (!pending.has(response.status)) return { status: response.status, comment: response.errorComment };
    }
  }

  /** A-RELEASE-RQ, then waits (bounded) for A-RELEASE-RP; the connection closes either way. */
  async release(): Promise<void> {
    if (this.lost) return;
    this.socket.write(releaseRequestPdu());
    try {
      await this.next('A-RELEASE-RP');
    } catch {
      // Every answer is in: a peer that drops the connection instead of answering loses nothing.
    } finally {
      this.socket.destroy();
    }
  }

  /** Sends A-ABORT and closes; returns the error that ends the association, for throwing. */
  abort(message: string): AssociationLost {
    const error = new AssociationLost(message);
    if (!this.socket.destroyed) this.socket.end(abortPdu());
    this.socket.destroy();
    this.fail(error);
    return error;
  }

  private send(contextId: number, control: number, value: Buffer): void {
    this.socket.write(pDataHeader(contextId, control, value.length));
    this.socket.write(value);
  }

  /** Reassembles the next command set on `contextId` from P-DATA-TF PDUs. */
  private async command(contextId: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      const pdu = await this.next('C-STORE response');
      if (pdu.type !== PduType.PDataTF) throw this.abort(protocolError(`PDU type 0x${pdu.type.toString(16)} instead of a C-STORE response`));
      let done = false;
      try {
        for (const pdv of pdvs(pdu.body)) {
          if (done || pdv.contextId !== contextId || (pdv.control & Pdv.Command) === 0) throw new Error('a PDV that is not part of the C-STORE response');
          parts.push(pdv.value);
          done = (pdv.control & Pdv.Last) !== 0;
        }
      } catch (err) {
        throw this.abort(protocolError(errorMessage(err)));
      }
      if (done) return Buffer.concat(parts);
    }
  }

  /** The next PDU; A-ABORT, a closed connection or the timeout reject. */
  private next(what: string): Promise<Pdu> {
    const pdu = this.unread.shift();
    if (pdu) return Promise.resolve(pdu);
    if (this.lost) return Promise.reject(this.lost);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(this.abort(`unreachable: no ${what} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiter = {
        resolve: (pdu) => {
          clearTimeout(timer);
          resolve(pdu);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
    });
  }

  private deliver(pdu: Pdu): void {
    if (pdu.type === PduType.Abort) {
      this.socket.destroy();
      this.fail(new AssociationLost('the peer aborted the association'));
      return;
    }
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter.resolve(pdu);
    else if (this.unread.length < maxUnread) this.unread.push(pdu);
    else this.abort(protocolError(`more than ${maxUnread} PDUs nobody asked for`));
  }

  private fail(error: AssociationLost): void {
    this.lost ??= error;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(this.lost);
  }
}

/** A TCP (or TLS) connection with no-delay, within the peer's timeout. */
function connect(peer: StorePeer): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = peer.tls
      ? tls.connect({ host: peer.host, port: peer.port, ...peer.tls, servername: net.isIP(peer.host) ? undefined : peer.host })
      : net.connect({ host: peer.host, port: peer.port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new AssociationLost(`unreachable: no connection within ${peer.timeoutMs} ms`));
    }, peer.timeoutMs);
    socket.once(peer.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    // Once connected, the association's own listener reports errors; this one is then a no-op.
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new AssociationLost(`unreachable: ${errorMessage(err)}`));
    });
  });
}

function protocolError(what: string): string {
  return `the peer broke the protocol: ${what}`;
}
