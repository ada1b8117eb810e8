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

const codecBySyntax = new Map<string, CodecCall>([
  [TransferSyntax.RleLossless, 'decodeRle'],
  [TransferSyntax.JpegLosslessP14, 'decodeJpeg'],
  [TransferSyntax.JpegLosslessSV1, 'decodeJpeg'],
  [TransferSyntax.JpegLsLossless, 'decodeJpegLs'],
  [TransferSyntax.JpegLsNearLossless, 'decodeJpegLs'],
  [TransferSyntax.Jpeg2000Lossless, 'decodeJpeg2000'],
  [TransferSyntax.Jpeg2000, 'decodeJpeg2000'],
  [TransferSyntax.HtJpeg2000Lossless, 'decodeHtJpeg2000'],
  [TransferSyntax.HtJpeg2000LosslessRpcl, 'decodeHtJpeg2000'],
  [TransferSyntax.HtJpeg2000, 'decodeHtJpeg2000'],
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

/**
 * Resolves when a usable instance is in place. Awaiting it immediately before a synchronous
 * decodeFrame guarantees that decode a healthy instance, even when a concurrent decode
 * failed and dropped the previous one meanwhile.
 */
export async function codecsReady(): Promise<void> {
  while (!usable) await initCodecs();
}

export interface FrameGeometry {
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  photometricInterpretation: string;
}

/** Decodes one compressed grayscale frame to little-endian words of BitsAllocated bits. */
export function decodeFrame(transferSyntaxUid: string, encoded: Uint8Array, g: FrameGeometry): Uint8Array {
  const call = codecBySyntax.get(transferSyntaxUid);
  if (!call) throw new PixelDecodeError('unsupported-transfer-syntax', `transfer syntax ${transferSyntaxUid} is not compressed with a supported codec`);
  if (!usable) throw new Error('pixel codecs are not ready: await codecsReady() first');
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
    return NativeCodecs[call](context).getDecodedBuffer() ?? new Uint8Array(0);
  } catch (err) {
    usable = false;
    instance = undefined;
    NativeCodecs.release();
    throw new PixelDecodeError('corrupt-stream', `the ${transferSyntaxUid} codestream cannot be decoded: ${(err as Error).message}`, { cause: err });
  }
}
