// Hand-made Explicit VR Little Endian elements and data sets for the header and fuzz tests: what dcmjs would refuse to write (hostile lengths, bad VRs, huge private elements) is written here byte by byte.
import { fileMetaHeader } from '../../src/dicom/part10.js';

/** VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2). */
const longVrs = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/**
 * One element. `declaredLength` overrides the length field (to lie about it); text values are
 * padded to even length (UI with NUL, others with a space).
 */
export function element(tag: number, vr: string, value: Buffer | string, declaredLength?: number): Buffer {
  let bytes = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  if (typeof value === 'string' && bytes.length % 2 === 1) bytes = Buffer.concat([bytes, Buffer.from([vr === 'UI' ? 0 : 0x20])]);
  const long = longVrs.has(vr);
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(tag >>> 16, 0);
  head.writeUInt16LE(tag & 0xffff, 2);
  head.write(vr.slice(0, 2).padEnd(2, ' '), 4, 'latin1');
  if (long) head.writeUInt32LE(declaredLength ?? bytes.length, 8);
  else head.writeUInt16LE((declaredLength ?? bytes.length) & 0xffff, 6);
  return Buffer.concat([head, bytes]);
}

export function uint16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}

export interface CtHeader {
  sopInstanceUid: string;
  seriesUid: string;
  studyUid: string;
  rows?: number;
  columns?: number;
  /** Elements placed between the patient/study group and the UIDs (group 0009, say). */
  before?: Buffer[];
  /** Elements placed after the pixel module, before the pixel data (group 0029, say). */
  after?: Buffer[];
}

/** The elements of a CT image header in ascending tag order, up to (not including) the pixel data. */
export function ctHeader(h: CtHeader): Buffer {
  return Buffer.concat([
    element(0x00080016, 'UI', '1.2.840.10008.5.1.4.1.1.2'),
    element(0x00080018, 'UI', h.sopInstanceUid),
    element(0x00080060, 'CS', 'CT'),
    ...(h.before ?? []),
    element(0x0020000d, 'UI', h.studyUid),
    element(0x0020000e, 'UI', h.seriesUid),
    element(0x00200013, 'IS', '1'),
    element(0x00200032, 'DS', '0\\0\\0'),
    element(0x00200037, 'DS', '1\\0\\0\\0\\1\\0'),
    element(0x00280002, 'US', uint16(1)),
    element(0x00280004, 'CS', 'MONOCHROME2'),
    element(0x00280010, 'US', uint16(h.rows ?? 16)),
    element(0x00280011, 'US', uint16(h.columns ?? 16)),
    element(0x00280100, 'US', uint16(16)),
    element(0x00280101, 'US', uint16(16)),
    element(0x00280102, 'US', uint16(15)),
    element(0x00280103, 'US', uint16(1)),
    element(0x00281052, 'DS', '-1024'),
    element(0x00281053, 'DS', '1'),
    ...(h.after ?? []),
  ]);
}

/** A Part 10 file around a data set (the data set bytes as they would travel in a C-STORE). */
export function part10(dataSet: Buffer, sopInstanceUid: string, transferSyntaxUid = '1.2.840.10008.1.2.1'): Buffer {
  return Buffer.concat([fileMetaHeader({ sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid, transferSyntaxUid }), dataSet]);
}
