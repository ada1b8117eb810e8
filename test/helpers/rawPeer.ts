// A minimal byte-level DICOM upper-layer client (PS3.8) for sending hand-made or malformed PDUs to the node.
import net from 'node:net';
// Well-formed framing from the node's codec; what goes inside the PDUs is built here by hand.
import { aeTitle, item, pdu } from '../../src/dicom/upperLayer.js';

export const PduType = {
  AssociateRQ: 0x01,
  AssociateAC: 0x02,
  AssociateRJ: 0x03,
  PDataTF: 0x04,
  ReleaseRQ: 0x05,
  ReleaseRP: 0x06,
  Abort: 0x07,
} as const;

export const applicationContext = '1.2.840.10008.3.1.1.1';
export const VerificationSopClass = '1.2.840.10008.1.1';
const peerImplementationUid = '2.25.118046231359467297421455391358155702517';

export interface ProposedContext {
  /** Odd, 1-255. */
  id: number;
  abstractSyntax: string;
  transferSyntaxes: readonly string[];
}

export interface Pdu {
  type: number;
  /** The bytes after the 6-byte PDU header. */
  body: Buffer;
}

export interface AcceptedContext {
  id: number;
  /** 0 acceptance; 1-4 the reasons of PS3.8 9.3.3.2. */
  result: number;
  transferSyntax: string;
}

export interface AssociateResult {
  accepted: boolean;
  contexts: AcceptedContext[];
  /** Result, source and reason of an A-ASSOCIATE-RJ. */
  reject?: { result: number; source: number; reason: number };
  maxPduLength?: number;
}

export interface Pdv {
  contextId: number;
  /** Bit 0: command; bit 1: last fragment. */
  control: number;
  value: Buffer;
}

export interface DimseResponse {
  commandField: number;
  messageId?: number;
  messageIdBeingRespondedTo?: number;
  status?: number;
  errorComment?: string;
}

/** An A-ASSOCIATE-RQ PDU (PS3.8 9.3.2). */
export function associateRq(calledAe: string, callingAe: string, contexts: readonly ProposedContext[], maxPduLength = 65536): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(1, 0); // protocol version
  aeTitle(calledAe).copy(fixed, 4);
  aeTitle(callingAe).copy(fixed, 20);
  const maxLength = Buffer.alloc(4);
  maxLength.writeUInt32BE(maxPduLength);
  const items = [
    item(0x10, Buffer.from(applicationContext, 'ascii')),
    ...contexts.map((c) =>
      item(
        0x20,
        Buffer.concat([
          Buffer.from([c.id, 0, 0, 0]),
          item(0x30, Buffer.from(c.abstractSyntax, 'ascii')),
          ...c.transferSyntaxes.map((ts) => item(0x40, Buffer.from(ts, 'ascii'))),
        ]),
      ),
    ),
    item(0x50, Buffer.concat([item(0x51, maxLength), item(0x52, Buffer.from(peerImplementationUid, 'ascii'))])),
  ];
  return pdu(PduType.AssociateRQ, Buffer.concat([fixed, ...items]));
}

/** An A-ASSOCIATE-AC PDU (PS3.8 9.3.3) answering each proposed context with `result`. */
export function associateAc(contexts: readonly AcceptedContext[], maxPduLength: number): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(1, 0);
  const maxLength = Buffer.alloc(4);
  maxLength.writeUInt32BE(maxPduLength);
  const items = [
    item(0x10, Buffer.from(applicationContext, 'ascii')),
    ...contexts.map((c) => item(0x21, Buffer.concat([Buffer.from([c.id, 0, c.result, 0]), item(0x40, Buffer.from(c.transferSyntax, 'ascii'))]))),
    item(0x50, Buffer.concat([item(0x51, maxLength), item(0x52, Buffer.from(peerImplementationUid, 'ascii'))])),
  ];
  return pdu(PduType.AssociateAC, Buffer.concat([fixed, ...items]));
}

/** An A-ASSOCIATE-RJ PDU (PS3.8 9.3.4). */
export function associateRj(result: number, source: number, reason: number): Buffer {
  return pdu(PduType.AssociateRJ, Buffer.from([0, result, source, reason]));
}

/** A P-DATA-TF PDU holding the PDVs given (PS3.8 9.3.5). */
export function pDataTf(pdvs: readonly Pdv[]): Buffer {
  return pdu(
    PduType.PDataTF,
    Buffer.concat(
      pdvs.map((p) => {
        const header = Buffer.alloc(6);
        header.writeUInt32BE(p.value.length + 2, 0);
        header[4] = p.contextId;
        header[5] = p.control;
        return Buffer.concat([header, p.value]);
      }),
    ),
  );
}

export function releaseRq(): Buffer {
  return pdu(PduType.ReleaseRQ, Buffer.alloc(4));
}

export function abortPdu(): Buffer {
  return pdu(PduType.Abort, Buffer.alloc(4));
}

/** One command element, Implicit VR LE (PS3.7 6.3.1); UIDs padded with NUL, text with space. */
type CommandValue = { us: number } | { ui: string } | { text: string };

function commandElement(element: number, value: CommandValue): Buffer {
  let bytes: Buffer;
  if ('us' in value) {
    bytes = Buffer.alloc(2);
    bytes.writeUInt16LE(value.us);
  } else {
    const s = 'ui' in value ? value.ui : value.text;
    bytes = Buffer.from(s.length % 2 === 0 ? s : s + ('ui' in value ? '\0' : ' '), 'latin1');
  }
  const head = Buffer.alloc(8);
  head.writeUInt16LE(0x0000, 0);
  head.writeUInt16LE(element, 2);
  head.writeUInt32LE(bytes.length, 4);
  return Buffer.concat([head, bytes]);
}

/** A command set with its group length first. */
export function commandSet(elements: ReadonlyArray<[number, CommandValue]>): Buffer {
  const body = Buffer.concat(elements.map(([e, v]) => commandElement(e, v)));
  // (0000,0000) CommandGroupLength, UL: tag and value length 4, then the length of the rest.
  const groupLength = Buffer.alloc(12);
  groupLength.writeUInt32LE(4, 4);
  groupLength.writeUInt32LE(body.length, 8);
  return Buffer.concat([groupLength, body]);
}

export function cStoreRq(messageId: number, sopClassUid: string, sopInstanceUid: string): Buffer {
  return commandSet([
    [0x0002, { ui: sopClassUid }],
    [0x0100, { us: 0x0001 }],
    [0x0110, { us: messageId }],
    [0x0700, { us: 0 }],
    [0x0800, { us: 0x0000 }],
    [0x1000, { ui: sopInstanceUid }],
  ]);
}

export function cEchoRq(messageId: number): Buffer {
  return commandSet([
    [0x0002, { ui: VerificationSopClass }],
    [0x0100, { us: 0x0030 }],
    [0x0110, { us: messageId }],
    [0x0800, { us: 0x0101 }],
  ]);
}

/** Reads the elements of a command set (a response, or a request a test peer answers) that tests look at. */
export function parseResponse(command: Buffer): DimseResponse {
  const out: DimseResponse = { commandField: -1 };
  let offset = 0;
  while (offset + 8 <= command.length) {
    const element = command.readUInt16LE(offset + 2);
    const length = command.readUInt32LE(offset + 4);
    const value = command.subarray(offset + 8, offset + 8 + length);
    offset += 8 + length;
    if (element === 0x0100) out.commandField = value.readUInt16LE(0);
    else if (element === 0x0110) out.messageId = value.readUInt16LE(0);
    else if (element === 0x0120) out.messageIdBeingRespondedTo = value.readUInt16LE(0);
    else if (element === 0x0900) out.status = value.readUInt16LE(0);
    else if (element === 0x0902) out.errorComment = value.toString('latin1').trim();
  }
  return out;
}

function parseAssociateAc(body: Buffer): AssociateResult {
  const contexts: AcceptedContext[] = [];
  let maxPduLength: number | undefined;
  let offset = 68;
  while (offset + 4 <= body.length) {
    const type = body[offset]!;
    const length = body.readUInt16BE(offset + 2);
    const value = body.subarray(offset + 4, offset + 4 + length);
    offset += 4 + length;
    if (type === 0x21) {
      const ts = value.length > 8 ? value.subarray(8, 8 + value.readUInt16BE(6)).toString('ascii') : '';
      contexts.push({ id: value[0]!, result: value[2]!, transferSyntax: ts });
    } else if (type === 0x50) {
      let u = 0;
      while (u + 4 <= value.length) {
        const subLength = value.readUInt16BE(u + 2);
        if (value[u] === 0x51) maxPduLength = value.readUInt32BE(u + 4);
        u += 4 + subLength;
      }
    }
  }
  return { accepted: true, contexts, maxPduLength };
}

/** A connection that speaks PDUs; everything can be sent by hand. */
export class RawPeer {
  private buffered = Buffer.alloc(0);
  private readonly pdus: Pdu[] = [];
  private waiting: ((pdu: Pdu | undefined) => void) | undefined;
  private ended = false;
  readonly closed: Promise<void>;
  private nextMessageId = 1;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.ended = true;
        this.waiting?.(undefined);
        this.waiting = undefined;
        resolve();
      });
    });
    // A reset by the node is an outcome tests look at through `closed`, not a crash.
    socket.on('error', () => undefined);
  }

  /** The acceptor's side of a connection a test server took. */
  static accepted(socket: net.Socket): RawPeer {
    return new RawPeer(socket);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawPeer(socket));
      });
      socket.once('error', reject);
    });
  }

  private onData(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 6) {
      const length = this.buffered.readUInt32BE(2);
      if (this.buffered.length < 6 + length) break;
      const next: Pdu = { type: this.buffered[0]!, body: this.buffered.subarray(6, 6 + length) };
      this.buffered = this.buffered.subarray(6 + length);
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(next);
      } else this.pdus.push(next);
    }
  }

  send(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  /** The next PDU from the node, or undefined when it closed the connection first. */
  readPdu(timeoutMs = 10_000): Promise<Pdu | undefined> {
    const queued = this.pdus.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`no PDU within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = (p) => {
        clearTimeout(timer);
        resolve(p);
      };
    });
  }

  async associate(calledAe: string, callingAe: string, contexts: readonly ProposedContext[], maxPduLength?: number): Promise<AssociateResult> {
    await this.send(associateRq(calledAe, callingAe, contexts, maxPduLength));
    const reply = await this.readPdu();
    if (!reply) throw new Error('connection closed instead of an association response');
    if (reply.type === PduType.AssociateAC) return parseAssociateAc(reply.body);
    if (reply.type === PduType.AssociateRJ) {
      return { accepted: false, contexts: [], reject: { result: reply.body[1]!, source: reply.body[2]!, reason: reply.body[3]! } };
    }
    throw new Error(`unexpected PDU type 0x${reply.type.toString(16)} in reply to A-ASSOCIATE-RQ`);
  }

  /** Reads P-DATA-TF PDUs until a whole command set has arrived, and parses it. */
  async readResponse(timeoutMs?: number): Promise<DimseResponse> {
    const parts: Buffer[] = [];
    for (;;) {
      const p = await this.readPdu(timeoutMs);
      if (!p) throw new Error('connection closed before the response');
      if (p.type !== PduType.PDataTF) throw new Error(`unexpected PDU type 0x${p.type.toString(16)} instead of a response`);
      let offset = 0;
      while (offset + 6 <= p.body.length) {
        const length = p.body.readUInt32BE(offset);
        const control = p.body[offset + 5]!;
        parts.push(p.body.subarray(offset + 6, offset + 4 + length));
        offset += 4 + length;
        if ((control & 0x03) === 0x03) return parseResponse(Buffer.concat(parts));
      }
    }
  }

  /**
   * Sends a C-STORE-RQ and its data set (split into PDVs of at most `fragment` bytes), then
   * waits for the response.
   */
  async cStore(contextId: number, sopClassUid: string, sopInstanceUid: string, dataSet: Buffer, fragment = 16_000): Promise<DimseResponse> {
    const messageId = this.nextMessageId++;
    await this.send(pDataTf([{ contextId, control: 0x03, value: cStoreRq(messageId, sopClassUid, sopInstanceUid) }]));
    for (let offset = 0; offset < dataSet.length || offset === 0; offset += fragment) {
      const value = dataSet.subarray(offset, offset + fragment);
      const last = offset + fragment >= dataSet.length;
      await this.send(pDataTf([{ contextId, control: last ? 0x02 : 0x00, value }]));
      if (last) break;
    }
    return this.readResponse();
  }

  async cEcho(contextId: number): Promise<DimseResponse> {
    await this.send(pDataTf([{ contextId, control: 0x03, value: cEchoRq(this.nextMessageId++) }]));
    return this.readResponse();
  }

  /** A-RELEASE-RQ, then waits for A-RELEASE-RP and the close. */
  async release(): Promise<boolean> {
    await this.send(releaseRq());
    const reply = await this.readPdu();
    this.socket.end();
    await this.closed;
    return reply?.type === PduType.ReleaseRP;
  }

  /** True once the node has closed the connection, false if it has not within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([this.closed.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
    clearTimeout(timer);
    return closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
