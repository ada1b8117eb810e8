/**
 * DIMSE command sets (PS3.7 E.1), always Implicit VR Little Endian: the few elements the C-STORE
 * paths read, and the C-STORE request and response they write, without a general-purpose
 * parser in the way.
 */
import { valueText } from './elementScan.js';

export const CommandField = { CStoreRQ: 0x0001, CStoreRSP: 0x8001, CEchoRQ: 0x0030 } as const;
/** CommandDataSetType value meaning "no data set" (PS3.7 E.1). */
export const noDataSet = 0x0101;

const Element = {
  GroupLength: 0x0000,
  AffectedSopClassUid: 0x0002,
  CommandField: 0x0100,
  MessageId: 0x0110,
  MessageIdBeingRespondedTo: 0x0120,
  Priority: 0x0700,
  CommandDataSetType: 0x0800,
  Status: 0x0900,
  ErrorComment: 0x0902,
  AffectedSopInstanceUid: 0x1000,
} as const;

export interface CommandFields {
  commandField?: number;
  messageId?: number;
  messageIdBeingRespondedTo?: number;
  dataSetType?: number;
  status?: number;
  errorComment?: string;
  affectedSopClassUid?: string;
  affectedSopInstanceUid?: string;
}

/** Reads the group 0000 elements we route on or answer to; throws on a malformed command set. */
export function parseCommand(command: Buffer): CommandFields {
  const fields: CommandFields = {};
  let offset = 0;
  while (offset + 8 <= command.length) {
    const group = command.readUInt16LE(offset);
    const element = command.readUInt16LE(offset + 2);
    const length = command.readUInt32LE(offset + 4);
    offset += 8;
    if (group !== 0x0000) throw new Error(`element (${group.toString(16)},${element.toString(16)}) outside group 0000`);
    if (offset + length > command.length) throw new Error(`element (0000,${element.toString(16)}) overruns the command set`);
    const value = command.subarray(offset, offset + length);
    offset += length;
    switch (element) {
      case Element.AffectedSopClassUid:
        fields.affectedSopClassUid = text(value);
        break;
      case Element.CommandField:
        fields.commandField = length >= 2 ? value.readUInt16LE(0) : undefined;
        break;
      case Element.MessageId:
        fields.messageId = length >= 2 ? value.readUInt16LE(0) : undefined;
        break;
      case Element.MessageIdBeingRespondedTo:
        fields.messageIdBeingRespondedTo = length >= 2 ? value.readUInt16LE(0) : undefined;
        break;
      case Element.CommandDataSetType:
        fields.dataSetType = length >= 2 ? value.readUInt16LE(0) : undefined;
        break;
      case Element.Status:
        fields.status = length >= 2 ? value.readUInt16LE(0) : undefined;
        break;
      case Element.ErrorComment:
        fields.errorComment = text(value) || undefined;
        break;
      case Element.AffectedSopInstanceUid:
        fields.affectedSopInstanceUid = text(value);
        break;
    }
  }
  if (offset !== command.length) throw new Error('trailing bytes after the last element');
  return fields;
}

function text(value: Buffer): string {
  return valueText(value, 0, value.length);
}

export interface StoreRequestFields {
  sopClassUid: string;
  sopInstanceUid: string;
  messageId: number;
}

/** The C-STORE-RQ command set (PS3.7 9.3.1.1), medium priority, a data set following. */
export function cStoreRequest(f: StoreRequestFields): Buffer {
  return commandSet([
    [Element.AffectedSopClassUid, f.sopClassUid, uidPad],
    [Element.CommandField, CommandField.CStoreRQ],
    [Element.MessageId, f.messageId],
    [Element.Priority, 0],
    [Element.CommandDataSetType, 0],
    [Element.AffectedSopInstanceUid, f.sopInstanceUid, uidPad],
  ]);
}

export interface StoreResponseFields {
  sopClassUid: string;
  sopInstanceUid: string;
  messageId: number;
  status: number;
  /** Up to 64 characters (VR LO). */
  errorComment?: string;
}

/** The C-STORE-RSP command set (PS3.7 9.3.1.2), elements in ascending order. */
export function cStoreResponse(f: StoreResponseFields): Buffer {
  return commandSet([
    [Element.AffectedSopClassUid, f.sopClassUid, uidPad],
    [Element.CommandField, CommandField.CStoreRSP],
    [Element.MessageIdBeingRespondedTo, f.messageId],
    [Element.CommandDataSetType, noDataSet],
    [Element.Status, f.status],
    ...(f.errorComment ? [[Element.ErrorComment, f.errorComment.slice(0, 64), textPad] satisfies CommandElement] : []),
    [Element.AffectedSopInstanceUid, f.sopInstanceUid, uidPad],
  ]);
}

/** Even length (PS3.5 7.1.1): UIDs pad with NUL, text with a space. */
const uidPad = 0x00;
const textPad = 0x20;

/** A group 0000 element: its element number and a US value, or a text value and its padding byte. */
type CommandElement = [element: number, value: number] | [element: number, value: string, pad: number];

/**
 * The group length and then `elements` (in ascending order), implicit VR little endian, in one
 * buffer: the SCP answers every instance with one.
 */
function commandSet(elements: readonly CommandElement[]): Buffer {
  const valueLength = (value: number | string) => (typeof value === 'number' ? 2 : even(Buffer.byteLength(value, 'latin1')));
  const groupLength = elements.reduce((sum, [, value]) => sum + 8 + valueLength(value), 0);
  const out = Buffer.alloc(12 + groupLength);
  let at = elementHeader(out, 0, Element.GroupLength, 4);
  at = out.writeUInt32LE(groupLength, at);
  for (const [element, value, pad] of elements) {
    at = elementHeader(out, at, element, valueLength(value));
    if (typeof value === 'number') {
      at = out.writeUInt16LE(value, at);
      continue;
    }
    const written = out.write(value, at, 'latin1');
    at += written;
    if (written % 2 === 1) out[at++] = pad!;
  }
  return out;
}

/** Tag (0000,element) and value length; the offset after them. */
function elementHeader(out: Buffer, at: number, element: number, length: number): number {
  at = out.writeUInt16LE(0x0000, at);
  at = out.writeUInt16LE(element, at);
  return out.writeUInt32LE(length, at);
}

function even(n: number): number {
  return n + (n % 2);
}
