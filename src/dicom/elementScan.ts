/**
 * A fast, allocation-light walk over the top-level elements of a Little Endian data set, for
 * the ingest hot path: it collects the string values of the tags asked for and stops at the
 * pixel data or once past the last tag asked for. Sequences are skipped (nested items are
 * walked only to find their end). Every length is checked against the bytes present, so hostile
 * lengths cannot make it allocate.
 */

export const pixelDataTag = 0x7fe00010;

const itemTag = 0xfffee000;
const itemDelimiterTag = 0xfffee00d;
const sequenceDelimiterTag = 0xfffee0dd;
const undefinedLength = 0xffffffff;

/** VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 7.1.2). */
export const longVrs = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

export class TruncatedError extends Error {}

export interface ScanResult {
  /** Values by tag number, split on backslash, trailing padding removed. */
  values: Map<number, string[]>;
  /**
   * The scan reached the pixel data or an element past every wanted tag (top-level elements
   * ascend, PS3.5 7.1): nothing wanted lies further, so the bytes after need not be read.
   */
  complete: boolean;
}

/**
 * Scans `buffer` from `offset` (the first data set element). Throws TruncatedError when the
 * buffer ends inside an element, Error on malformed structure.
 */
export function scanElements(buffer: Buffer, offset: number, explicitVr: boolean, wanted: ReadonlySet<number>): ScanResult {
  const values = new Map<number, string[]>();
  const lastWanted = Math.max(0, ...wanted);
  let pos = offset;
  while (pos < buffer.length) {
    const el = readElementHeader(buffer, pos, explicitVr);
    if (el.tag === pixelDataTag || el.tag > lastWanted) return { values, complete: true };
    pos = el.valueOffset;
    if (el.length === undefinedLength) {
      pos = skipUndefinedLength(buffer, pos, explicitVr, 0);
      continue;
    }
    if (pos + el.length > buffer.length) throw new TruncatedError('buffer ends inside an element');
    if (wanted.has(el.tag)) {
      values.set(el.tag, buffer.toString('latin1', pos, pos + el.length).replace(/[\0 ]+$/, '').split('\\').map((v) => v.trim()));
    }
    pos += el.length;
  }
  return { values, complete: false };
}

interface ElementHeader {
  tag: number;
  length: number;
  valueOffset: number;
}

function readElementHeader(b: Buffer, pos: number, explicitVr: boolean): ElementHeader {
  if (pos + 8 > b.length) throw new TruncatedError('buffer ends inside an element header');
  const tag = ((b.readUInt16LE(pos) << 16) | b.readUInt16LE(pos + 2)) >>> 0;
  // Item and delimiter tags never carry a VR, even in explicit VR data sets.
  if (!explicitVr || tag >>> 16 === 0xfffe) {
    return { tag, length: b.readUInt32LE(pos + 4), valueOffset: pos + 8 };
  }
  const vr = b.toString('latin1', pos + 4, pos + 6);
  if (!/^[A-Z]{2}$/.test(vr)) throw new Error(`invalid VR at offset ${pos}`);
  if (longVrs.has(vr)) {
    if (pos + 12 > b.length) throw new TruncatedError('buffer ends inside an element header');
    return { tag, length: b.readUInt32LE(pos + 8), valueOffset: pos + 12 };
  }
  return { tag, length: b.readUInt16LE(pos + 6), valueOffset: pos + 8 };
}

/**
 * Skips the value of an undefined-length element: a sequence of items, or encapsulated
 * fragments. Returns the offset after its sequence delimiter.
 */
function skipUndefinedLength(b: Buffer, pos: number, explicitVr: boolean, depth: number): number {
  if (depth > 32) throw new Error('sequences nested too deeply');
  for (;;) {
    const item = readElementHeader(b, pos, false);
    pos = item.valueOffset;
    if (item.tag === sequenceDelimiterTag) return pos;
    if (item.tag !== itemTag) throw new Error(`expected an item at offset ${pos - 8}`);
    if (item.length !== undefinedLength) {
      if (pos + item.length > b.length) throw new TruncatedError('buffer ends inside an item');
      pos += item.length;
      continue;
    }
    // An undefined-length item: its elements, until the item delimiter.
    for (;;) {
      const el = readElementHeader(b, pos, explicitVr);
      pos = el.valueOffset;
      if (el.tag === itemDelimiterTag) break;
      if (el.length === undefinedLength) {
        pos = skipUndefinedLength(b, pos, explicitVr, depth + 1);
      } else {
        if (pos + el.length > b.length) throw new TruncatedError('buffer ends inside an element');
        pos += el.length;
      }
    }
  }
}
