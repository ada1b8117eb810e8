import type { PixelFrame, StoredPixels } from '../imaging/frame.js';
import { decodeFrame, initCodecs, isCompressedSyntax } from './codecs.js';
import { readImageDataset, type PixelDataValue, type PixelModuleValues } from './imageDataset.js';
import { PixelDecodeError } from './pixelDecodeError.js';

export { PixelDecodeError, type PixelDecodeReason } from './pixelDecodeError.js';

/** Larger than any CT slice; bounds what a corrupt header can make a codec allocate. */
const maxDimension = 4096;

/**
 * Prepares this thread's decoders (the WASM codecs, ~60 ms). Call once when a worker starts so
 * the first compressed slice is not slow and a broken install fails early; decodePixels waits
 * for them by itself too.
 */
export async function initPixelDecoders(): Promise<void> {
  await initCodecs();
}

/**
 * The first frame of a grayscale Part 10 file, in any transfer syntax the SCP accepts, with
 * the attributes that turn it into HU. Rejects with a PixelDecodeError whose `reason` says
 * why. Asynchronous only so that it can wait for this thread's codecs; the work is synchronous.
 */
export async function decodePixels(file: Buffer): Promise<PixelFrame> {
  const { transferSyntaxUid, attributes, pixelData } = readImageDataset(file);
  if (!pixelData) throw new PixelDecodeError('no-pixel-data', 'the data set has no Pixel Data (7FE0,0010)');
  const frame = frameAttributes(attributes);
  const frameBytes = (frame.rows * frame.columns * frame.bitsAllocated) / 8;
  const compressed = isCompressedSyntax(transferSyntaxUid);
  if (compressed !== pixelData.encapsulated) {
    throw new PixelDecodeError('malformed', `transfer syntax ${transferSyntaxUid} with ${pixelData.encapsulated ? 'encapsulated' : 'native'} pixel data`);
  }
  let words: Uint8Array;
  if (!pixelData.encapsulated) {
    words = nativeFirstFrame(pixelData.bytes, frameBytes, attributes.numberOfFrames ?? 1, frame);
  } else {
    const codestream = firstFrameCodestream(pixelData, attributes.numberOfFrames ?? 1);
    words = await decodeFrame(transferSyntaxUid, codestream, frame);
    if (words.length !== frameBytes) {
      throw new PixelDecodeError('pixel-count', `the codestream decodes to ${words.length} bytes; ${describe(frame)} need ${frameBytes}`);
    }
  }
  return { ...frame, pixels: storedPixels(words, frame) };
}

type FrameAttributes = Omit<PixelFrame, 'pixels'>;

/** Checks the pixel module and applies the reference's defaults (tools/train/ich_train/preprocess.py). */
function frameAttributes(a: PixelModuleValues): FrameAttributes {
  if ((a.samplesPerPixel ?? 1) !== 1) throw new PixelDecodeError('not-grayscale', `SamplesPerPixel is ${a.samplesPerPixel}: colour images are not CT`);
  const photometric = a.photometricInterpretation ?? 'MONOCHROME2';
  if (photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2') {
    throw new PixelDecodeError('not-grayscale', `PhotometricInterpretation ${photometric} is not MONOCHROME1 or MONOCHROME2`);
  }
  const rows = required(a, 'rows', 'Rows (0028,0010)');
  const columns = required(a, 'columns', 'Columns (0028,0011)');
  const bitsAllocated = required(a, 'bitsAllocated', 'BitsAllocated (0028,0100)');
  const bitsStored = required(a, 'bitsStored', 'BitsStored (0028,0101)');
  const pixelRepresentation = required(a, 'pixelRepresentation', 'PixelRepresentation (0028,0103)');
  const highBit = a.highBit ?? bitsStored - 1;
  const unsupported = (what: string) => new PixelDecodeError('unsupported-pixel-format', what);
  if (rows < 1 || columns < 1 || rows > maxDimension || columns > maxDimension) {
    throw unsupported(`${rows} x ${columns} pixels: each side must be 1..${maxDimension}`);
  }
  if (bitsAllocated !== 8 && bitsAllocated !== 16) throw unsupported(`BitsAllocated ${bitsAllocated}: only 8 and 16 are supported`);
  if (bitsStored < 1 || bitsStored > bitsAllocated) throw unsupported(`BitsStored ${bitsStored} does not fit BitsAllocated ${bitsAllocated}`);
  if (highBit < bitsStored - 1 || highBit >= bitsAllocated) throw unsupported(`HighBit ${highBit} does not fit BitsStored ${bitsStored} in BitsAllocated ${bitsAllocated}`);
  if (pixelRepresentation !== 0 && pixelRepresentation !== 1) throw unsupported(`PixelRepresentation ${pixelRepresentation} is not 0 or 1`);
  if ((a.numberOfFrames ?? 1) < 1) throw unsupported(`NumberOfFrames ${a.numberOfFrames}`);
  return {
    rows,
    columns,
    bitsAllocated,
    bitsStored,
    highBit,
    pixelRepresentation,
    photometricInterpretation: photometric,
    samplesPerPixel: 1,
    // A zero slope would erase the image; the reference reads it as absent.
    rescaleSlope: a.rescaleSlope || 1,
    rescaleIntercept: a.rescaleIntercept ?? 0,
    pixelPaddingValue: inPixelSign(a.pixelPaddingValue, pixelRepresentation),
    pixelPaddingRangeLimit: inPixelSign(a.pixelPaddingRangeLimit, pixelRepresentation),
  };
}

function required(a: PixelModuleValues, key: 'rows' | 'columns' | 'bitsAllocated' | 'bitsStored' | 'pixelRepresentation', name: string): number {
  const value = a[key];
  if (value === undefined) throw new PixelDecodeError('unsupported-pixel-format', `${name} is missing`);
  return value;
}

/** A padding value's 16-bit pattern read in the pixels' own sign, so it compares with stored values. */
function inPixelSign(raw: number | undefined, pixelRepresentation: number): number | undefined {
  if (raw === undefined) return undefined;
  return pixelRepresentation === 1 && raw >= 0x8000 ? raw - 0x10000 : raw;
}

function nativeFirstFrame(bytes: Uint8Array, frameBytes: number, frames: number, frame: FrameAttributes): Uint8Array {
  const expected = frameBytes * frames;
  // Values have even length: one padding byte may follow an odd-length frame set.
  if (bytes.length !== expected && !(expected % 2 === 1 && bytes.length === expected + 1)) {
    const what = frames === 1 ? describe(frame) : `${frames} frames of ${describe(frame)}`;
    throw new PixelDecodeError('pixel-count', `the pixel data holds ${bytes.length} bytes; ${what} need ${expected}`);
  }
  return bytes.subarray(0, frameBytes);
}

/** The first frame's codestream: its fragments, concatenated when there are several. */
function firstFrameCodestream(pixelData: Extract<PixelDataValue, { encapsulated: true }>, frames: number): Uint8Array {
  const { fragments, offsetTable } = pixelData;
  if (fragments.length === 0) throw new PixelDecodeError('no-pixel-data', 'the encapsulated pixel data has no fragments');
  let parts = fragments;
  if (frames > 1) {
    if (offsetTable.length >= 2) parts = fragments.filter((f) => f.offset < offsetTable[1]!);
    else if (fragments.length === frames) parts = fragments.slice(0, 1);
    else {
      throw new PixelDecodeError(
        'unsupported-pixel-format',
        `${frames} frames in ${fragments.length} fragments without an offset table: the first frame's fragments are unknown`,
      );
    }
  }
  if (parts.length === 1) return parts[0]!.bytes;
  return Buffer.concat(parts.map((f) => f.bytes));
}

/**
 * The frame's words as a typed array of the pixels' width and sign: a view of the file's
 * bytes (or the codec's output) where they are aligned for it, which in a Part 10 file they
 * practically always are (every element before Pixel Data has an even length); else a copy.
 * Copying cost ~0.2 ms a 512x512 slice. The pixels share the file's buffer and are only read.
 */
function storedPixels(words: Uint8Array, frame: FrameAttributes): StoredPixels {
  const count = frame.rows * frame.columns;
  const signed = frame.pixelRepresentation === 1;
  const { buffer, byteOffset } = words;
  if (frame.bitsAllocated === 8) return signed ? new Int8Array(buffer, byteOffset, count) : new Uint8Array(buffer, byteOffset, count);
  if (byteOffset % 2 === 0) return signed ? new Int16Array(buffer, byteOffset, count) : new Uint16Array(buffer, byteOffset, count);
  const pixels = signed ? new Int16Array(count) : new Uint16Array(count);
  new Uint8Array(pixels.buffer).set(words.subarray(0, pixels.byteLength));
  return pixels;
}

function describe(frame: FrameAttributes): string {
  return `${frame.rows} x ${frame.columns} pixels of ${frame.bitsAllocated} bits`;
}
