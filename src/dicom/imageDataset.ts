import { inflateRawSync } from 'node:zlib';
import { itemTag, pixelDataTag, readElementHeader, sequenceDelimiterTag, skipUndefinedLength, TruncatedError, undefinedLength, valueEnd, valueText, type ElementHeader } from './elementScan.js';
import { readFileMeta } from './part10.js';
import { PixelDecodeError } from './pixelDecodeError.js';
import { acceptedTransferSyntaxes, TransferSyntax } from './uids.js';

/**
 * A bounded reader for what pixel decoding needs from a Part 10 file: the transfer syntax,
 * the Image Pixel and Modality LUT attributes, and where the pixel data lies. Values are
 * views into the file (or the inflated data set), never copies sized by a length field:
 * the elements are walked with elementScan.ts, which checks every length against the bytes
 * present. dcmjs is not used here because
 * its reader zero-fills a value the file ends inside (a truncated slice would decode as a
 * black band) and allocates whatever a length field says.
 */

/** The attributes as found; binary values decoded, absent or empty ones undefined. */
export interface PixelModuleValues {
  samplesPerPixel?: number;
  photometricInterpretation?: string;
  numberOfFrames?: number;
  rows?: number;
  columns?: number;
  bitsAllocated?: number;
  bitsStored?: number;
  highBit?: number;
  pixelRepresentation?: number;
  /** Raw 16-bit patterns: VR "US or SS", their sign follows PixelRepresentation. */
  pixelPaddingValue?: number;
  pixelPaddingRangeLimit?: number;
  rescaleIntercept?: number;
  rescaleSlope?: number;
}

export interface Fragment {
  /** Offset of the fragment's item from the first fragment's item, as the offset table counts. */
  offset: number;
  bytes: Uint8Array;
}

export type PixelDataValue =
  | { encapsulated: false; bytes: Uint8Array }
  | { encapsulated: true; offsetTable: number[]; fragments: Fragment[] };

export interface ImageDataset {
  transferSyntaxUid: string;
  attributes: PixelModuleValues;
  pixelData?: PixelDataValue;
}

type ValueKind = 'us' | 'ds' | 'is' | 'cs';

const attributeTags = new Map<number, [keyof PixelModuleValues, ValueKind]>([
  [0x00280002, ['samplesPerPixel', 'us']],
  [0x00280004, ['photometricInterpretation', 'cs']],
  [0x00280008, ['numberOfFrames', 'is']],
  [0x00280010, ['rows', 'us']],
  [0x00280011, ['columns', 'us']],
  [0x00280100, ['bitsAllocated', 'us']],
  [0x00280101, ['bitsStored', 'us']],
  [0x00280102, ['highBit', 'us']],
  [0x00280103, ['pixelRepresentation', 'us']],
  [0x00280120, ['pixelPaddingValue', 'us']],
  [0x00280121, ['pixelPaddingRangeLimit', 'us']],
  [0x00281052, ['rescaleIntercept', 'ds']],
  [0x00281053, ['rescaleSlope', 'ds']],
]);

/** Far above any CT slice (a 2048 x 2048 16-bit frame is 8 MiB); bounds a deflate bomb. */
const maxInflatedBytes = 64 * 1024 * 1024;

export function readImageDataset(file: Buffer): ImageDataset {
  if (file.length < 132 || file.toString('latin1', 128, 132) !== 'DICM') {
    throw new PixelDecodeError('not-dicom', 'not a DICOM Part 10 file (no "DICM" after the 128-byte preamble)');
  }
  try {
    const { transferSyntaxUid, dataSetOffset: dataSetStart } = readFileMeta(file);
    if (!transferSyntaxUid) throw new PixelDecodeError('not-dicom', 'the file meta group has no TransferSyntaxUID');
    if (!acceptedTransferSyntaxes.includes(transferSyntaxUid)) {
      throw new PixelDecodeError('unsupported-transfer-syntax', `transfer syntax ${transferSyntaxUid} is not one the node accepts and decodes`);
    }
    const dataSet =
      transferSyntaxUid === TransferSyntax.DeflatedExplicitVRLittleEndian ? inflate(file.subarray(dataSetStart)) : file.subarray(dataSetStart);
    const explicitVr = transferSyntaxUid !== TransferSyntax.ImplicitVRLittleEndian;
    return { transferSyntaxUid, ...readTopLevel(dataSet, explicitVr) };
  } catch (err) {
    throw asDecodeError(err);
  }
}

/** The walker's errors as decode errors of the matching kind. */
function asDecodeError(err: unknown): unknown {
  if (err instanceof PixelDecodeError || !(err instanceof Error)) return err;
  return new PixelDecodeError(err instanceof TruncatedError ? 'truncated' : 'malformed', err.message, { cause: err });
}

function inflate(deflated: Buffer): Buffer {
  try {
    return inflateRawSync(deflated, { maxOutputLength: maxInflatedBytes });
  } catch (err) {
    throw new PixelDecodeError('malformed', `the deflated data set cannot be inflated within ${maxInflatedBytes} bytes: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function readTopLevel(b: Buffer, explicitVr: boolean): Omit<ImageDataset, 'transferSyntaxUid'> {
  const attributes: PixelModuleValues = {};
  let pos = 0;
  while (pos < b.length) {
    const el = readElementHeader(b, pos, explicitVr);
    if (el.tag === pixelDataTag) return { attributes, pixelData: readPixelData(b, el) };
    if (el.length === undefinedLength) {
      pos = skipUndefinedLength(b, el.valueOffset, explicitVr && el.vr !== 'UN');
      continue;
    }
    const end = valueEnd(b, el);
    const attribute = attributeTags.get(el.tag);
    if (attribute) setAttribute(attributes, attribute, b, el.valueOffset, end);
    pos = end;
  }
  return { attributes };
}

function setAttribute(attributes: PixelModuleValues, [key, kind]: [keyof PixelModuleValues, ValueKind], b: Buffer, start: number, end: number): void {
  if (kind === 'us') {
    if (end - start >= 2) (attributes[key] as number) = b.readUInt16LE(start);
    return;
  }
  const first = valueText(b, start, end).split('\\')[0]!.trim();
  if (first === '') return;
  if (kind === 'cs') {
    (attributes[key] as string) = first;
    return;
  }
  const pattern = kind === 'is' ? /^[+-]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
  if (!pattern.test(first)) {
    const keyword = key[0]!.toUpperCase() + key.slice(1);
    throw new PixelDecodeError('malformed', `${keyword} "${first}" is not a valid ${kind.toUpperCase()} value`);
  }
  (attributes[key] as number) = Number(first);
}

function readPixelData(b: Buffer, el: ElementHeader): PixelDataValue {
  if (el.length !== undefinedLength) return { encapsulated: false, bytes: b.subarray(el.valueOffset, valueEnd(b, el)) };
  // Encapsulated (PS3.5 A.4): an offset table item, fragment items, a sequence delimiter.
  const table = item(b, readElementHeader(b, el.valueOffset, false), 'the basic offset table');
  const offsetTable: number[] = [];
  for (let p = table.valueOffset; p + 4 <= table.end; p += 4) offsetTable.push(b.readUInt32LE(p));
  const firstFragment = table.end;
  const fragments: Fragment[] = [];
  for (let pos = firstFragment; ; ) {
    const next = readElementHeader(b, pos, false);
    if (next.tag === sequenceDelimiterTag) return { encapsulated: true, offsetTable, fragments };
    const fragment = item(b, next, 'a pixel data fragment');
    fragments.push({ offset: pos - firstFragment, bytes: b.subarray(fragment.valueOffset, fragment.end) });
    pos = fragment.end;
  }
}

/** An item of defined length that fits the buffer. */
function item(b: Buffer, el: ElementHeader, what: string): { valueOffset: number; end: number } {
  if (el.tag !== itemTag) throw new PixelDecodeError('malformed', `expected ${what} item at offset ${el.valueOffset - 8}`);
  return { valueOffset: el.valueOffset, end: valueEnd(b, el) };
}
