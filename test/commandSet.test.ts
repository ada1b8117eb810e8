// The C-STORE command sets the node writes, read back by dcmjs-dimse (an independent parser) and
// by our own, with lengths and padding checked byte by byte.
import dimse from 'dcmjs-dimse';
import { describe, expect, it } from 'vitest';
import { cStoreRequest, cStoreResponse, parseCommand, type StoreResponseFields } from '../src/dicom/commandSet.js';

const ctImage = '1.2.840.10008.5.1.4.1.1.2';
const implicitLittleEndian = '1.2.840.10008.1.2';

/** Each element's tag, length and offset, in order, checking that the lengths tile the buffer. */
function elements(command: Buffer): { element: number; length: number; at: number }[] {
  const out = [];
  for (let at = 0; at < command.length; ) {
    expect(command.readUInt16LE(at)).toBe(0x0000);
    const element = command.readUInt16LE(at + 2);
    const length = command.readUInt32LE(at + 4);
    out.push({ element, length, at: at + 8 });
    at += 8 + length;
    expect(at).toBeLessThanOrEqual(command.length);
  }
  return out;
}

describe('cStoreResponse', () => {
  it.each<[string, StoreResponseFields]>([
    ['success, odd UID', { sopClassUid: ctImage, sopInstanceUid: '1.2.3.45', messageId: 7, status: 0 }],
    ['refused with an odd comment, even UID', { sopClassUid: ctImage, sopInstanceUid: '1.2.3.4', messageId: 65535, status: 0xa700, errorComment: 'disk full' }],
    ['a comment cut to 64 characters', { sopClassUid: ctImage, sopInstanceUid: '1.2.3', messageId: 1, status: 0xc000, errorComment: 'x'.repeat(80) }],
  ])('%s: group length, ascending tags, even values padded, read back alike', (_name, f) => {
    const command = cStoreResponse(f);
    const list = elements(command);
    expect(list[0]).toEqual({ element: 0x0000, length: 4, at: 8 });
    expect(command.readUInt32LE(8)).toBe(command.length - 12);
    expect(list.map((e) => e.element)).toEqual([...list.map((e) => e.element)].sort((a, b) => a - b));
    expect(list.every((e) => e.length % 2 === 0)).toBe(true);
    const uid = list.find((e) => e.element === 0x1000)!;
    const uidBytes = command.subarray(uid.at, uid.at + uid.length);
    expect(uidBytes.toString('latin1').replace(/\0$/, '')).toBe(f.sopInstanceUid);
    const comment = list.find((e) => e.element === 0x0902);
    if (comment) expect(command.toString('latin1', comment.at, comment.at + comment.length).trimEnd()).toBe(f.errorComment!.slice(0, 64));

    expect(parseCommand(command)).toEqual({
      affectedSopClassUid: f.sopClassUid,
      commandField: 0x8001,
      messageIdBeingRespondedTo: f.messageId,
      dataSetType: 0x0101,
      status: f.status,
      errorComment: f.errorComment?.slice(0, 64),
      affectedSopInstanceUid: f.sopInstanceUid,
    });
    const theirs = new dimse.Dataset(command, implicitLittleEndian);
    expect(theirs.getElement('CommandGroupLength')).toBe(command.length - 12);
    expect(theirs.getElement('Status')).toBe(f.status);
    expect(theirs.getElement('MessageIDBeingRespondedTo')).toBe(f.messageId);
    expect(theirs.getElement('AffectedSOPInstanceUID')).toBe(f.sopInstanceUid);
    expect(theirs.getElement('ErrorComment')).toBe(f.errorComment?.slice(0, 64));
  });
});

it('cStoreRequest: medium priority, a data set following, read back alike', () => {
  const command = cStoreRequest({ sopClassUid: ctImage, sopInstanceUid: '1.2.3.45', messageId: 9 });
  expect(elements(command).map((e) => e.element)).toEqual([0x0000, 0x0002, 0x0100, 0x0110, 0x0700, 0x0800, 0x1000]);
  expect(parseCommand(command)).toEqual({ affectedSopClassUid: ctImage, commandField: 0x0001, messageId: 9, dataSetType: 0, affectedSopInstanceUid: '1.2.3.45' });
  const theirs = new dimse.Dataset(command, implicitLittleEndian);
  expect(theirs.getElement('Priority')).toBe(0);
  expect(theirs.getElement('AffectedSOPClassUID')).toBe(ctImage);
});
