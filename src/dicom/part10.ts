import { readElementHeader, valueEnd, valueText } from './elementScan.js';
import { implementationClassUid, implementationVersionName } from './uids.js';

export interface FileMetaFields {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  sourceAeTitle?: string;
}

/**
 * The 128-byte preamble, "DICM" and the File Meta Information group (PS3.10 7.1), always
 * Explicit VR Little Endian. The data set bytes received on the wire follow unchanged, so a
 * spool file is a valid Part 10 file in the transfer syntax the sender used.
 */
export function fileMetaHeader(f: FileMetaFields): Buffer {
  const elements = [
    element(0x0001, 'OB', Buffer.from([0x00, 0x01])),
    element(0x0002, 'UI', text(f.sopClassUid, 0)),
    element(0x0003, 'UI', text(f.sopInstanceUid, 0)),
    element(0x0010, 'UI', text(f.transferSyntaxUid, 0)),
    element(0x0012, 'UI', text(implementationClassUid, 0)),
    element(0x0013, 'SH', text(implementationVersionName, 0x20)),
    ...(f.sourceAeTitle ? [element(0x0016, 'AE', text(f.sourceAeTitle, 0x20))] : []),
  ];
  const body = Buffer.concat(elements);
  const groupLength = element(0x0000, 'UL', uint32(body.length));
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'ascii'), groupLength, body]);
}

/** Values of even length, padded as PS3.5 6.2 asks (UI with NUL, text with space). */
function text(value: string, pad: number): Buffer {
  const b = Buffer.from(value, 'latin1');
  return b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.from([pad])]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function element(elementNumber: number, vr: string, value: Buffer): Buffer {
  const longForm = vr === 'OB';
  const head = Buffer.alloc(longForm ? 12 : 8);
  head.writeUInt16LE(0x0002, 0);
  head.writeUInt16LE(elementNumber, 2);
  head.write(vr, 4, 'ascii');
  if (longForm) head.writeUInt32LE(value.length, 8);
  else head.writeUInt16LE(value.length, 6);
  return Buffer.concat([head, value]);
}

export interface FileMeta {
  sopClassUid?: string;
  sopInstanceUid?: string;
  transferSyntaxUid?: string;
  /** Where the data set starts: the bytes a C-STORE carries. */
  dataSetOffset: number;
}

/**
 * Reads the File Meta Information of a Part 10 file (or of a prefix holding it), walking the
 * group to its end rather than trusting its group length, which some writers get wrong.
 * Throws when there is no "DICM" prefix, and the walker's errors (TruncatedError included).
 */
export function readFileMeta(file: Buffer): FileMeta {
  if (file.length < 132 || file.toString('latin1', 128, 132) !== 'DICM') throw new Error('not a DICOM Part 10 file (no "DICM" after the 128-byte preamble)');
  const meta: FileMeta = { dataSetOffset: 132 };
  let pos = 132;
  while (pos + 4 <= file.length && file.readUInt16LE(pos) === 0x0002) {
    const el = readElementHeader(file, pos, true);
    const end = valueEnd(file, el);
    const value = () => valueText(file, el.valueOffset, end) || undefined;
    if (el.tag === 0x00020002) meta.sopClassUid = value();
    else if (el.tag === 0x00020003) meta.sopInstanceUid = value();
    else if (el.tag === 0x00020010) meta.transferSyntaxUid = value();
    pos = end;
  }
  meta.dataSetOffset = pos;
  return meta;
}
