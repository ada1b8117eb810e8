import dcmjsCodecs from 'dcmjs-codecs';
import { PixelDecodeError } from './pixelDecodeError.js';
import { TransferSyntax } from './uids.js';

const { Context, NativeCodecs } = dcmjsCodecs;

/**
 * The WASM codecs of dcmjs-codecs (RLE, libjpeg-turbo for JPEG lossless with any predictor,
 * CharLS for JPEG-LS, OpenJPEG for JPEG 2000, OpenJPH for HTJ2K), one instance per thread.
 *
 * A failed decode leaves that instance unusable: a codec error unwinds through the WASM
 * stack without restoring it, and a trap can leave the heap half-updated; measured here,
 * a few hundred corrupt JPEG-LS frames later even allocating a context traps. So after any
 * failure the instance is dropped and the next decode waits for a fresh one (~60 ms).
 */

type CodecCall = 'decodeRle' | 'decodeJpeg' | 'decodeJpegLs' | 'decodeJpeg2000' | 'decodeHtJpeg2000';

const rle = { call: 'decodeRle', name: 'RLE' } as const;
const jpeg = { call: 'decodeJpeg', name: 'JPEG lossless' } as const;
const jpegLs = { call: 'decodeJpegLs', name: 'JPEG-LS' } as const;
const jpeg2000 = { call: 'decodeJpeg2000', name: 'JPEG 2000' } as const;
const htj2k = { call: 'decodeHtJpeg2000', name: 'HTJ2K' } as const;

const codecBySyntax = new Map<string, { call: CodecCall; name: string }>([
  [TransferSyntax.RleLossless, rle],
  [TransferSyntax.JpegLosslessP14, jpeg],
  [TransferSyntax.JpegLosslessSV1, jpeg],
  [TransferSyntax.JpegLsLossless, jpegLs],
  [TransferSyntax.JpegLsNearLossless, jpegLs],
  [TransferSyntax.Jpeg2000Lossless, jpeg2000],
  [TransferSyntax.Jpeg2000, jpeg2000],
  [TransferSyntax.HtJpeg2000Lossless, htj2k],
  [TransferSyntax.HtJpeg2000LosslessRpcl, htj2k],
  [TransferSyntax.HtJpeg2000, htj2k],
]);

export function isCompressedSyntax(transferSyntaxUid: string): boolean {
  return codecBySyntax.has(transferSyntaxUid);
}

let instance: Promise<void> | undefined;
let usable = false;

/** Starts (once) the codec instance of this thread; resolves when it is ready. */
export function initCodecs(): Promise<void> {
  if (!instance) {
    const starting = NativeCodecs.initializeAsync().then(() => {
      usable = true;
    });
    // A failed start is not cached: the next call tries again.
    starting.catch(() => {
      if (instance === starting) instance = undefined;
    });
    instance = starting;
  }
  return instance;
}

export interface FrameGeometry {
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  photometricInterpretation: string;
}

/**
 * Decodes one compressed grayscale frame to little-endian words of BitsAllocated bits, once
 * this thread's instance is usable. The check and the decode run without a pause between
 * them, so a concurrent decode that fails and drops the instance cannot slip in.
 */
export async function decodeFrame(transferSyntaxUid: string, encoded: Uint8Array, g: FrameGeometry): Promise<Uint8Array> {
  const codec = codecBySyntax.get(transferSyntaxUid);
  if (!codec) throw new PixelDecodeError('unsupported-transfer-syntax', `transfer syntax ${transferSyntaxUid} is not compressed with a supported codec`);
  if (codec === rle) {
    const problem = rleProblem(encoded, g);
    if (problem) throw new PixelDecodeError('corrupt-stream', `the RLE frame is corrupt (${problem})`);
  }
  while (!usable) await initCodecs();
  const context = new Context({
    width: g.columns,
    height: g.rows,
    bitsAllocated: g.bitsAllocated,
    bitsStored: g.bitsStored,
    samplesPerPixel: 1,
    pixelRepresentation: g.pixelRepresentation,
    planarConfiguration: 0,
    photometricInterpretation: g.photometricInterpretation,
    encodedBuffer: encoded,
  });
  try {
    return NativeCodecs[codec.call](context).getDecodedBuffer() ?? new Uint8Array(0);
  } catch (err) {
    usable = false;
    instance = undefined;
    NativeCodecs.release();
    const detail = (err as Error).message;
    throw new PixelDecodeError('corrupt-stream', `the ${codec.name} codestream cannot be decoded (${transferSyntaxUid}; codec: ${detail})`, { cause: err });
  }
}

/**
 * Checks an RLE Lossless frame (PS3.5 G.3) before decoding: the dcmjs-codecs decoder fills
 * what a damaged frame lacks (a nonsense segment count, offsets past the end, truncated
 * segments all came out as a full-size image of partly invented pixels). The header must name
 * one segment per byte of a pixel, the first at offset 64, in order and inside the frame; each
 * segment's PackBits runs must produce at least Rows x Columns bytes.
 */
export function rleProblem(frame: Uint8Array, g: FrameGeometry): string | undefined {
  if (frame.length < 64) return `${frame.length} bytes, shorter than the 64-byte RLE header`;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const segments = view.getUint32(0, true);
  const expected = g.bitsAllocated / 8;
  if (segments !== expected) return `${segments} segments; ${g.bitsAllocated}-bit grayscale has ${expected}`;
  const offsets = Array.from({ length: segments }, (_, i) => view.getUint32(4 + 4 * i, true));
  if (offsets[0] !== 64) return `first segment at offset ${offsets[0]}, not 64`;
  const pixels = g.rows * g.columns;
  for (let i = 0; i < segments; i++) {
    const start = offsets[i]!;
    const end = i + 1 < segments ? offsets[i + 1]! : frame.length;
    if (end <= start || end > frame.length) return `segment ${i + 1} at offsets ${start}-${end} of a ${frame.length}-byte frame`;
    const decoded = packBitsLength(frame, start, end, pixels);
    if (decoded < pixels) return `segment ${i + 1} decodes to ${decoded} bytes; ${g.rows} x ${g.columns} pixels need ${pixels}`;
  }
  return undefined;
}

/** Bytes a PackBits run sequence produces (PS3.5 G.3.1), counting no further than `enough`. */
function packBitsLength(b: Uint8Array, start: number, end: number, enough: number): number {
  let out = 0;
  for (let p = start; p < end && out < enough; ) {
    const n = b[p]!;
    if (n < 128) {
      // A literal run of n + 1 bytes; one cut short by the segment's end counts what is there.
      const take = Math.min(n + 1, end - p - 1);
      out += take;
      p += 1 + take;
    } else if (n > 128) {
      if (p + 1 >= end) break;
      out += 257 - n;
      p += 2;
    } else {
      p += 1;
    }
  }
  return out;
}
