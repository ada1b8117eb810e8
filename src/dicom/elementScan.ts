/**
 * The one walker over Little Endian data set elements: element headers, and the skipping of
 * undefined-length values (sequences, UN values, encapsulated pixel data). Every length is
 * checked against the bytes present, so hostile lengths cannot make a reader allocate.
 * `scanElements` is the ingest hot path's allocation-light use of it; imageDataset.ts reads
 * the pixel module with it.
 */

export const pixelDataTag = 0x7fe00010;
export const itemTag = 0xfffee000;
export const itemDelimiterTag = 0xfffee00d;
export const sequenceDelimiterTag = 0xfffee0dd;
export const undefinedLength = 0xffffffff;
const maxNesting = 32;

/** VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 7.1.2). */
const longVrs = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/** The data ends inside an element: a longer prefix of the same data may parse. */
export class TruncatedError extends Error {}

export interface ElementHeader {
  tag: number;
  /** Explicit VR data sets only, never for items and delimiters. */
  vr?: string;
  length: number;
  valueOffset: number;
}

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
 * Collects the string values of the `wanted` top-level tags of the data set in `buffer` from
 * `offset` (its first element), stopping at the pixel data or past the last wanted tag.
 * Sequences are skipped. Throws TruncatedError when the buffer ends inside an element, Error
 * on malformed structure.
 */
export function scanElements(buffer: Buffer, offset: number, explicitVr: boolean, wanted: ReadonlySet<number>): ScanResult {
  const values = new Map<number, string[]>();
  const lastWanted = Math.max(0, ...wanted);
  let pos = offset;
  while (pos < buffer.length) {
    const el = readElementHeader(buffer, pos, explicitVr);
    if (el.tag === pixelDataTag || el.tag > lastWanted) return { values, complete: true };
    if (el.length === undefinedLength) {
      pos = skipUndefinedLength(buffer, el.valueOffset, explicitVr && el.vr !== 'UN');
      continue;
    }
    const end = valueEnd(buffer, el);
    if (wanted.has(el.tag)) {
      values.set(el.tag, valueText(buffer, el.valueOffset, end).split('\\').map((v) => v.trim()));
    }
    pos = end;
  }
  return { values, complete: false };
}

/**
 * Walks every top-level element from `offset` to the end of `buffer`: throws TruncatedError when
 * the data set ends inside an element, Error on malformed structure.
 */
export function checkElements(buffer: Buffer, offset: number, explicitVr: boolean): void {
  for (let pos = offset; pos < buffer.length; ) {
    const el = readElementHeader(buffer, pos, explicitVr);
    pos = el.length === undefinedLength ? skipUndefinedLength(buffer, el.valueOffset, explicitVr && el.vr !== 'UN') : valueEnd(buffer, el);
  }
}

/** A text value as stored, without the trailing NUL or space padding (PS3.5 6.2). */
export function valueText(b: Buffer, start: number, end: number): string {
  return b.toString('latin1', start, end).replace(/[\0 ]+$/, '');
}

export function readElementHeader(b: Buffer, pos: number, explicitVr: boolean): ElementHeader {
  if (pos + 8 > b.length) throw new TruncatedError(`the data ends inside an element header at offset ${pos}`);
  const tag = ((b.readUInt16LE(pos) << 16) | b.readUInt16LE(pos + 2)) >>> 0;
  // Items and delimiters never carry a VR, even in explicit VR data sets.
  if (!explicitVr || tag >>> 16 === 0xfffe) return { tag, length: b.readUInt32LE(pos + 4), valueOffset: pos + 8 };
  const vr = b.toString('latin1', pos + 4, pos + 6);
  if (!/^[A-Z]{2}$/.test(vr)) throw new Error(`invalid VR at offset ${pos}`);
  if (!longVrs.has(vr)) return { tag, vr, length: b.readUInt16LE(pos + 6), valueOffset: pos + 8 };
  if (pos + 12 > b.length) throw new TruncatedError(`the data ends inside an element header at offset ${pos}`);
  return { tag, vr, length: b.readUInt32LE(pos + 8), valueOffset: pos + 12 };
}

/** End of an element's value, which must have a defined length that fits the buffer. */
export function valueEnd(b: Buffer, el: ElementHeader): number {
  if (el.length === undefinedLength) throw new Error(`element ${tagName(el.tag)} has an undefined length where a defined one is required`);
  const end = el.valueOffset + el.length;
  if (end > b.length) throw new TruncatedError(`the data ends inside element ${tagName(el.tag)}: ${el.length} bytes declared, ${b.length - el.valueOffset} present`);
  return end;
}

/**
 * Skips a sequence, UN value or encapsulated pixel data of undefined length, starting at its
 * first item; returns the offset after its sequence delimiter. Items of undefined length are
 * walked element by element to their delimiter. A UN value of undefined length is implicit VR
 * inside, whatever the data set's encoding (PS3.5 6.2.2): pass `explicitVr` false for it.
 */
export function skipUndefinedLength(b: Buffer, pos: number, explicitVr: boolean, depth = 0): number {
  if (depth > maxNesting) throw new Error(`sequences nested deeper than ${maxNesting}`);
  for (;;) {
    const el = readElementHeader(b, pos, false);
    if (el.tag === sequenceDelimiterTag) return el.valueOffset;
    if (el.tag !== itemTag) throw new Error(`expected a sequence item at offset ${pos}`);
    if (el.length !== undefinedLength) {
      pos = valueEnd(b, el);
      continue;
    }
    pos = el.valueOffset;
    for (;;) {
      const inner = readElementHeader(b, pos, explicitVr);
      if (inner.tag === itemDelimiterTag) {
        pos = inner.valueOffset;
        break;
      }
      pos = inner.length === undefinedLength ? skipUndefinedLength(b, inner.valueOffset, explicitVr && inner.vr !== 'UN', depth + 1) : valueEnd(b, inner);
    }
  }
}

/** "(7FE0,0010)" */
export function tagName(tag: number): string {
  const hex = tag.toString(16).toUpperCase().padStart(8, '0');
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}
