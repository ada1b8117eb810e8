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
