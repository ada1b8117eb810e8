/**
 * DICOM upper layer PDUs (PS3.8 9.3) as bytes: the framing both sides share, and what an
 * association requester writes and reads. The SCP side streams its PDUs through PduFramer.
 */
import { implementationClassUid, implementationVersionName } from './uids.js';

export const PduType = { AssociateRQ: 0x01, AssociateAC: 0x02, AssociateRJ: 0x03, PDataTF: 0x04, ReleaseRQ: 0x05, ReleaseRP: 0x06, Abort: 0x07 } as const;
export const pduHeaderLength = 6;
/** Item length (4), presentation context ID (1), message control header (1). */
export const pdvHeaderLength = 6;
/** Message control header bits (PS3.8 E.2). */
export const Pdv = { Command: 0x01, Last: 0x02 } as const;

const applicationContextName = '1.2.840.10008.3.1.1.1';

/** A P-DATA-TF PDU holding one PDV. */
export function pDataPdu(presentationContextId: number, control: number, value: Buffer): Buffer {
  const pdu = Buffer.alloc(pduHeaderLength + pdvHeaderLength + value.length);
  writePDataHeader(pdu, presentationContextId, control, value.length);
  value.copy(pdu, pduHeaderLength + pdvHeaderLength);
  return pdu;
}

/** The 12 bytes before a PDV's value, for a P-DATA-TF PDU holding that one PDV. */
export function pDataHeader(presentationContextId: number, control: number, valueLength: number): Buffer {
  const header = Buffer.alloc(pduHeaderLength + pdvHeaderLength);
  writePDataHeader(header, presentationContextId, control, valueLength);
  return header;
}

function writePDataHeader(b: Buffer, presentationContextId: number, control: number, valueLength: number): void {
  b[0] = PduType.PDataTF;
  b.writeUInt32BE(pdvHeaderLength + valueLength, 2);
  b.writeUInt32BE(valueLength + 2, 6);
  b[10] = presentationContextId;
  b[11] = control;
}

export interface ProposedContext {
  /** Odd, 1-255. */
  id: number;
  abstractSyntax: string;
  transferSyntaxes: readonly string[];
}

export interface AssociateRequest {
  calledAe: string;
  callingAe: string;
  contexts: readonly ProposedContext[];
  /** The longest P-DATA-TF PDU we take. */
  maxPduLength: number;
}

/** A-ASSOCIATE-RQ (PS3.8 9.3.2), with our implementation class UID and version name. */
export function associateRequestPdu(r: AssociateRequest): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(1, 0);
  aeTitle(r.calledAe).copy(fixed, 4);
  aeTitle(r.callingAe).copy(fixed, 20);
  const maxLength = Buffer.alloc(4);
  maxLength.writeUInt32BE(r.maxPduLength);
  const items = [
    item(0x10, ascii(applicationContextName)),
    ...r.contexts.map((c) =>
      item(0x20, Buffer.concat([Buffer.from([c.id, 0, 0, 0]), item(0x30, ascii(c.abstractSyntax)), ...c.transferSyntaxes.map((ts) => item(0x40, ascii(ts)))])),
    ),
    item(0x50, Buffer.concat([item(0x51, maxLength), item(0x52, ascii(implementationClassUid)), item(0x55, ascii(implementationVersionName))])),
  ];
  return pdu(PduType.AssociateRQ, Buffer.concat([fixed, ...items]));
}

export interface ContextResult {
  id: number;
  /** 0 acceptance; 1 user rejection; 2 no reason; 3 abstract syntax not supported; 4 transfer syntaxes not supported. */
  result: number;
  /** The transfer syntax accepted; empty when rejected. */
  transferSyntax: string;
}

export interface AssociateAccept {
  contexts: ContextResult[];
  /** The longest P-DATA-TF PDU the acceptor takes; 0: no limit (PS3.8 D.1). */
  maxPduLength: number;
}

/** The body (after the 6-byte header) of an A-ASSOCIATE-AC; throws on items that overrun it. */
export function parseAssociateAccept(body: Buffer): AssociateAccept {
  const out: AssociateAccept = { contexts: [], maxPduLength: 0 };
  for (const { type, value } of items(body, 68)) {
    if (type === 0x21) {
      if (value.length < 4) throw new Error('presentation context item too short');
      const syntax = [...items(value, 4)].find((i) => i.type === 0x40);
      out.contexts.push({ id: value[0]!, result: value[2]!, transferSyntax: syntax ? text(syntax.value) : '' });
    } else if (type === 0x50) {
      const max = [...items(value, 0)].find((i) => i.type === 0x51);
      if (max && max.value.length >= 4) out.maxPduLength = max.value.readUInt32BE(0);
    }
  }
  return out;
}

export interface AssociateReject {
  result: number;
  source: number;
  reason: number;
}

export function parseAssociateReject(body: Buffer): AssociateReject {
  if (body.length < 4) throw new Error('A-ASSOCIATE-RJ too short');
  return { result: body[1]!, source: body[2]!, reason: body[3]! };
}

/** A-ASSOCIATE-RJ result, source and reason in words (PS3.8 9.3.4). */
export function describeReject(r: AssociateReject): string {
  const reasons: Record<number, Record<number, string>> = {
    1: { 1: 'no reason given', 2: 'application context name not supported', 3: 'calling AE title not recognized', 7: 'called AE title not recognized' },
    2: { 1: 'no reason given', 2: 'protocol version not supported' },
    3: { 1: 'temporary congestion', 2: 'local limit exceeded' },
  };
  const kind = r.result === 1 ? 'permanent' : 'transient';
  return `${kind}, ${reasons[r.source]?.[r.reason] ?? `source ${r.source} reason ${r.reason}`}`;
}

export const releaseRequestPdu = (): Buffer => pdu(PduType.ReleaseRQ, Buffer.alloc(4));

/** A-ABORT from the service user (source 0). */
export const abortPdu = (): Buffer => pdu(PduType.Abort, Buffer.alloc(4));

export interface Pdu {
  type: number;
  /** The bytes after the 6-byte PDU header. */
  body: Buffer;
}

/**
 * Cuts a byte stream into whole PDUs. One longer than `maxLength` is an error before any of it
 * is buffered: a length field never sizes an allocation.
 */
export class PduReader {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private readonly maxLength: number) {}

  /** The PDUs completed by `chunk`; throws on one longer than the limit. */
  push(chunk: Buffer): Pdu[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const out: Pdu[] = [];
    while (this.buffered.length >= pduHeaderLength) {
      const length = this.buffered.readUInt32BE(2);
      if (length > this.maxLength) throw new Error(`the peer sent a PDU of ${length} bytes (type 0x${this.buffered[0]!.toString(16)}), more than the ${this.maxLength} we take`);
      if (this.buffered.length < pduHeaderLength + length) break;
      out.push({ type: this.buffered[0]!, body: this.buffered.subarray(pduHeaderLength, pduHeaderLength + length) });
      this.buffered = this.buffered.subarray(pduHeaderLength + length);
    }
    return out;
  }
}

/** The PDVs of a P-DATA-TF body; throws when one overruns it. */
export function* pdvs(body: Buffer): Generator<{ contextId: number; control: number; value: Buffer }> {
  let offset = 0;
  while (offset < body.length) {
    if (offset + pdvHeaderLength > body.length) throw new Error('P-DATA-TF ends inside a PDV header');
    const length = body.readUInt32BE(offset);
    if (length < 2 || offset + 4 + length > body.length) throw new Error(`PDV length ${length} does not fit the P-DATA-TF PDU`);
    yield { contextId: body[offset + 4]!, control: body[offset + 5]!, value: body.subarray(offset + 6, offset + 4 + length) };
    offset += 4 + length;
  }
}

function* items(b: Buffer, start: number): Generator<{ type: number; value: Buffer }> {
  for (let offset = start; offset < b.length; ) {
    if (offset + 4 > b.length) throw new Error('an item header overruns the PDU');
    const length = b.readUInt16BE(offset + 2);
    if (offset + 4 + length > b.length) throw new Error(`item 0x${b[offset]!.toString(16)} overruns the PDU`);
    yield { type: b[offset]!, value: b.subarray(offset + 4, offset + 4 + length) };
    offset += 4 + length;
  }
}

/** A PDU: type, reserved byte, 32-bit length, body. */
export function pdu(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(pduHeaderLength);
  header[0] = type;
  header.writeUInt32BE(body.length, 2);
  return Buffer.concat([header, body]);
}

/** An item or sub-item of an association PDU: type, reserved byte, 16-bit length, body. */
export function item(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header[0] = type;
  header.writeUInt16BE(body.length, 2);
  return Buffer.concat([header, body]);
}

/** An AE title field: 16 bytes, space padded. */
export function aeTitle(title: string): Buffer {
  return Buffer.from(title.padEnd(16, ' ').slice(0, 16), 'ascii');
}

function ascii(s: string): Buffer {
  return Buffer.from(s, 'ascii');
}

function text(b: Buffer): string {
  return b.toString('ascii').replace(/[\0 ]+$/, '');
}
