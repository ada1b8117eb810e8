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
    element(Element.AffectedSopClassUid, padded(f.sopClassUid, 0)),
    element(Element.CommandField, uint16(CommandField.CStoreRQ)),
    element(Element.MessageId, uint16(f.messageId)),
    element(Element.Priority, uint16(0)),
    element(Element.CommandDataSetType, uint16(0)),
    element(Element.AffectedSopInstanceUid, padded(f.sopInstanceUid, 0)),
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
    element(Element.AffectedSopClassUid, padded(f.sopClassUid, 0)),
    element(Element.CommandField, uint16(CommandField.CStoreRSP)),
    element(Element.MessageIdBeingRespondedTo, uint16(f.messageId)),
    element(Element.CommandDataSetType, uint16(noDataSet)),
    element(Element.Status, uint16(f.status)),
    ...(f.errorComment ? [element(Element.ErrorComment, padded(f.errorComment.slice(0, 64), 0x20))] : []),
    element(Element.AffectedSopInstanceUid, padded(f.sopInstanceUid, 0)),
  ]);
}

/** The elements (in ascending order) after their group length. */
function commandSet(elements: Buffer[]): Buffer {
  const body = Buffer.concat(elements);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(body.length);
  return Buffer.concat([element(Element.GroupLength, length), body]);
}

function element(tagElement: number, value: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(tagElement, 2);
  head.writeUInt32LE(value.length, 4);
  return Buffer.concat([head, value]);
}

function uint16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}

/** Even length (PS3.5 7.1.1): UIDs pad with NUL, text with a space. */
function padded(value: string, pad: number): Buffer {
  const b = Buffer.from(value, 'latin1');
  return b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.from([pad])]);
}
