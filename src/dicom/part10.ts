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
 * spool file is a valid Part 10 file in the transfer syntax the sender used. Written into one
 * buffer: the SCP makes one per instance.
 */
export function fileMetaHeader(f: FileMetaFields): Buffer {
  // Values of even length, padded as PS3.5 6.2 asks: UI with NUL (the zeroed buffer's), text with space.
  const elements: MetaElement[] = [
    [0x0002, 'UI', f.sopClassUid, ''],
    [0x0003, 'UI', f.sopInstanceUid, ''],
    [0x0010, 'UI', f.transferSyntaxUid, ''],
    [0x0012, 'UI', implementationClassUid, ''],
    [0x0013, 'SH', implementationVersionName, ' '],
    ...(f.sourceAeTitle ? [[0x0016, 'AE', f.sourceAeTitle, ' '] satisfies MetaElement] : []),
  ];
  const even = (n: number) => n + (n % 2);
  // (0002,0001) OB: 12 bytes of header and 2 of value.
  const groupLength = elements.reduce((sum, [, , value]) => sum + 8 + even(Buffer.byteLength(value, 'latin1')), 14);
  const out = Buffer.alloc(128 + 4 + 12 + groupLength);
  out.write('DICM', 128, 'latin1');
  let at = 132;
  at = elementHeader(out, at, 0x0000, 'UL', 4);
  at = out.writeUInt32LE(groupLength, at);
  at = elementHeader(out, at, 0x0001, 'OB', 2);
  at = out.writeUInt16BE(0x0001, at);
  for (const [element, vr, value, pad] of elements) {
    const length = Buffer.byteLength(value, 'latin1');
    at = elementHeader(out, at, element, vr, even(length));
    at += out.write(value, at, 'latin1');
    if (length % 2 === 1) at += pad ? out.write(pad, at, 'latin1') : 1;
  }
  return out;
}

/** A file meta element after (0002,0001): element number, VR, text value, padding byte ('' for NUL). */
type MetaElement = [element: number, vr: string, value: string, pad: string];

/** Tag (0002,element), VR and value length (explicit VR little endian); the offset after it. */
function elementHeader(out: Buffer, at: number, element: number, vr: string, length: number): number {
  at = out.writeUInt16LE(0x0002, at);
  at = out.writeUInt16LE(element, at);
  at += out.write(vr, at, 'latin1');
  // OB has two reserved bytes and a 32-bit length (PS3.5 7.1.2).
  if (vr === 'OB') return out.writeUInt32LE(length, at + 2);
  return out.writeUInt16LE(length, at);
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
