// Pixel decoding of every transfer syntax the SCP accepts, and the errors a bad file gets.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import dcmjsCodecs from 'dcmjs-codecs';
import { beforeAll, describe, expect, it } from 'vitest';
import dcmjs from '../src/dicom/dcmjs.js';
import { decodePixels, initPixelDecoders, PixelDecodeError, type PixelDecodeReason } from '../src/dicom/pixels.js';
import { acceptedTransferSyntaxes, TransferSyntax } from '../src/dicom/uids.js';

const goldenDir = path.join(import.meta.dirname, 'fixtures', 'golden');
const golden = (name: string) => readFileSync(path.join(goldenDir, `${name}.dcm`));
const arrayBuffer = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

/** A copy of `file` with data set attributes replaced (undefined removes one), written by dcmjs. */
function rewrite(file: Buffer, changes: Record<string, unknown>): Buffer {
  const { naturalizeDataset, denaturalizeDataset } = dcmjs.data.DicomMetaDictionary;
  const dict = dcmjs.data.DicomMessage.readFile(arrayBuffer(file));
  const dataset = { ...naturalizeDataset(dict.dict), ...changes };
  for (const key of Object.keys(changes)) if (changes[key] === undefined) delete dataset[key];
  dict.dict = denaturalizeDataset(dataset);
  return Buffer.from(dict.write());
}

/** A copy of `file` re-encoded by dcmjs-codecs, for syntaxes the golden fixtures leave out. */
function transcode(file: Buffer, syntax: string, parameters: Record<string, unknown> = {}): Buffer {
  const transcoder = new dcmjsCodecs.Transcoder(arrayBuffer(file));
  transcoder.transcode(syntax, parameters);
  return Buffer.from(transcoder.getDicomPart10());
}

/** `file` with every occurrence of one byte string replaced by another of the same length. */
function patch(file: Buffer, from: string, to: string): Buffer {
  expect(to.length).toBe(from.length);
  const out = Buffer.from(file);
  for (let i = out.indexOf(from, 0, 'latin1'); i >= 0; i = out.indexOf(from, i + 1, 'latin1')) out.write(to, i, 'latin1');
  return out;
}

async function rejection(file: Buffer): Promise<PixelDecodeError> {
  const error = await decodePixels(file).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(PixelDecodeError);
  return error as PixelDecodeError;
}

async function expectReason(file: Buffer, reason: PixelDecodeReason, message: RegExp): Promise<void> {
  const error = await rejection(file);
  expect({ reason: error.reason, message: error.message }).toEqual({ reason, message: expect.stringMatching(message) });
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

beforeAll(async () => {
  // dcmjs logs every "US or SS" and "OB or OW" attribute it writes or reads in implicit VR.
  (dcmjs as unknown as { log: { getLogger(name: string): { setLevel(level: string): void } } }).log.getLogger('validation.dcmjs').setLevel('silent');
  await initPixelDecoders();
  await dcmjsCodecs.NativeCodecs.initializeAsync();
});

describe('decoding', () => {
  it('reads the pixel module of a 12-bit unsigned file', async () => {
    const { pixels, ...attributes } = await decodePixels(golden('u12_explicit'));
    expect(attributes).toEqual({
      rows: 128,
      columns: 128,
      bitsAllocated: 16,
      bitsStored: 12,
      highBit: 11,
      pixelRepresentation: 0,
      photometricInterpretation: 'MONOCHROME2',
      samplesPerPixel: 1,
      rescaleSlope: 1,
      rescaleIntercept: -1024,
      pixelPaddingValue: undefined,
      pixelPaddingRangeLimit: undefined,
    });
    expect(pixels).toBeInstanceOf(Uint16Array);
    expect(pixels.length).toBe(128 * 128);
  });

  it('types the values by sign and reads padding, slope and MONOCHROME1', async () => {
    const signed = await decodePixels(golden('nonsquare'));
    expect([signed.rows, signed.columns, signed.pixelRepresentation, signed.pixels.constructor]).toEqual([100, 120, 1, Int16Array]);
    expect((await decodePixels(golden('padding'))).pixelPaddingValue).toBe(63536);
    expect((await decodePixels(golden('slope_half'))).rescaleSlope).toBe(0.5);
    expect((await decodePixels(golden('monochrome1'))).photometricInterpretation).toBe('MONOCHROME1');
    expect((await decodePixels(golden('u12_defect'))).rescaleIntercept).toBe(0);
  });

  const manifest = JSON.parse(readFileSync(path.join(goldenDir, 'manifest.json'), 'utf8')) as {
    cases: { name: string; transferSyntax: string; description: string }[];
  };
  const encoded = manifest.cases.flatMap((c) => {
    const source = /lossless encoding of (\w+)\.dcm/.exec(c.description)?.[1];
    return source ? [[c.name, c.transferSyntax, source] as const] : [];
  });

  it.each(encoded)('%s (%s) decodes to the stored values of %s', async (name, _syntax, source) => {
    const decoded = await decodePixels(golden(name));
    const expected = await decodePixels(golden(source));
    expect(decoded.pixels).toEqual(expected.pixels);
    expect({ ...decoded, pixels: undefined }).toEqual({ ...expected, pixels: undefined });
  });

  // Syntaxes the golden fixtures leave out, encoded here from u12_explicit; lossy ones within their error.
  const more: [string, Record<string, unknown>, number][] = [
    [TransferSyntax.JpegLsNearLossless, { allowedLossyError: 3 }, 3],
    [TransferSyntax.Jpeg2000, { rate: 5 }, 20],
    [TransferSyntax.HtJpeg2000LosslessRpcl, {}, 0],
    [TransferSyntax.HtJpeg2000, {}, 20],
  ];

  it.each(more)('%s %j decodes within %d of the source', async (syntax, parameters, maxError) => {
    const source = await decodePixels(golden('u12_explicit'));
    const decoded = await decodePixels(transcode(golden('u12_explicit'), syntax, parameters));
    expect(decoded.rows * decoded.columns).toBe(128 * 128);
    expect(maxDifference(decoded.pixels, source.pixels)).toBeLessThanOrEqual(maxError);
  });

  it('every syntax the SCP accepts has a decoding case above', () => {
    const covered = new Set([...encoded.map(([, syntax]) => syntax), ...more.map(([syntax]) => syntax), ...manifest.cases.map((c) => c.transferSyntax)]);
    expect(acceptedTransferSyntaxes.filter((s) => !covered.has(s))).toEqual([]);
  });

  it('8-bit data comes back as bytes', async () => {
    const bytes = Uint8Array.from({ length: 16 }, (_, i) => i * 16);
    const file = rewrite(golden('u12_explicit'), { Rows: 4, Columns: 4, BitsAllocated: 8, BitsStored: 8, HighBit: 7, PixelData: [bytes.buffer], _vrMap: { PixelData: 'OB' } });
    const frame = await decodePixels(file);
    expect(frame.pixels).toEqual(bytes);
  });

  it('reads PixelPaddingValue (US or SS) in the sign of the pixels, implicit and explicit VR', async () => {
    const pixels = Int16Array.of(-2000, 5, -2000, 7);
    const changes = { Rows: 2, Columns: 2, BitsStored: 16, HighBit: 15, PixelRepresentation: 1, PixelPaddingValue: -2000, PixelData: [pixels.buffer] };
    const explicit = await decodePixels(rewrite(golden('u12_explicit'), changes));
    const implicit = await decodePixels(rewrite(golden('u12_implicit'), changes));
    expect([explicit.pixelPaddingValue, implicit.pixelPaddingValue]).toEqual([-2000, -2000]);
    expect(implicit.pixels).toEqual(pixels);
  });

  it('takes the first frame of a multi-frame data set', async () => {
    const first = (await decodePixels(golden('u12_explicit'))).pixels as Uint16Array;
    const both = new Uint16Array(2 * first.length);
    both.set(first);
    both.fill(7, first.length);
    const frame = await decodePixels(rewrite(golden('u12_explicit'), { NumberOfFrames: 2, PixelData: [both.buffer] }));
    expect(frame.pixels).toEqual(first);
  });

  it('works inside a worker thread after initPixelDecoders there', async () => {
    // The worker loads the TypeScript sources through tsx, as vitest does here.
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      (async () => {
        (await import('tsx/esm/api')).register();
        const { decodePixels, initPixelDecoders } = await import(workerData.module);
        await initPixelDecoders();
        const frame = await decodePixels(require('node:fs').readFileSync(workerData.file));
        parentPort.postMessage(Array.from(frame.pixels.subarray(0, 8)));
      })().catch((err) => parentPort.postMessage(String(err)));`;
    const worker = new Worker(code, {
      eval: true,
      workerData: { module: path.join(import.meta.dirname, '..', 'src', 'dicom', 'pixels.ts'), file: path.join(goldenDir, 'u12_jpegls.dcm') },
    });
    try {
      const reply = await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
      const expected = (await decodePixels(golden('u12_explicit'))).pixels.subarray(0, 8);
      expect(reply).toEqual(Array.from(expected));
    } finally {
      await worker.terminate();
    }
  });
});

describe('errors', () => {
  const explicit = () => golden('u12_explicit');

  it('not a Part 10 file', async () => {
    await expectReason(Buffer.from('hello'), 'not-dicom', /DICM/);
    await expectReason(Buffer.alloc(300), 'not-dicom', /DICM/);
  });

  it('no pixel data', async () => {
    await expectReason(rewrite(explicit(), { PixelData: undefined }), 'no-pixel-data', /no Pixel Data \(7FE0,0010\)/);
  });

  it('truncated pixel data', async () => {
    const file = explicit();
    await expectReason(file.subarray(0, file.length - 1000), 'truncated', /ends inside element \(7FE0,0010\): 32768 bytes declared, 31768 present/);
  });

  it('a hostile length is checked, not allocated', async () => {
    // PatientName (0010,0010) claiming 4 GiB: explicit VR "UT" has a 32-bit length.
    const file = explicit();
    const header = Buffer.alloc(12);
    header.writeUInt16LE(0x0010, 0);
    header.writeUInt16LE(0x0010, 2);
    header.write('UT', 4, 'latin1');
    header.writeUInt32LE(0xfffffff0, 8);
    const metaEnd = 144 + file.readUInt32LE(140);
    const hostile = Buffer.concat([file.subarray(0, metaEnd), header, Buffer.alloc(16)]);
    await expectReason(hostile, 'truncated', /4294967280 bytes declared, 16 present/);
  });

  it('wrong pixel count: Rows x Columns x BitsAllocated against the bytes present', async () => {
    await expectReason(rewrite(explicit(), { Rows: 127 }), 'pixel-count', /holds 32768 bytes; 127 x 128 pixels of 16 bits need 32512/);
    await expectReason(rewrite(explicit(), { Rows: 129 }), 'pixel-count', /need 33024/);
  });

  it('unsupported transfer syntax', async () => {
    const baseline = patch(golden('u12_jpegls'), TransferSyntax.JpegLsLossless, '1.2.840.10008.1.2.4.50');
    await expectReason(baseline, 'unsupported-transfer-syntax', /1\.2\.840\.10008\.1\.2\.4\.50/);
  });

  it('native pixel data under a compressed syntax', async () => {
    await expectReason(patch(explicit(), TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.RleLossless), 'malformed', /native pixel data/);
  });

  it('colour images', async () => {
    await expectReason(rewrite(explicit(), { SamplesPerPixel: 3 }), 'not-grayscale', /SamplesPerPixel is 3/);
    await expectReason(rewrite(explicit(), { PhotometricInterpretation: 'RGB' }), 'not-grayscale', /RGB/);
  });

  it('pixel formats the node does not handle', async () => {
    await expectReason(rewrite(explicit(), { BitsAllocated: 32 }), 'unsupported-pixel-format', /BitsAllocated 32/);
    await expectReason(rewrite(explicit(), { Rows: undefined }), 'unsupported-pixel-format', /Rows \(0028,0010\) is missing/);
    await expectReason(rewrite(explicit(), { HighBit: 16 }), 'unsupported-pixel-format', /HighBit 16 does not fit BitsStored 12 in BitsAllocated 16/);
    await expectReason(rewrite(explicit(), { BitsStored: 17 }), 'unsupported-pixel-format', /BitsStored 17 does not fit BitsAllocated 16/);
    await expectReason(rewrite(explicit(), { Rows: 5000, Columns: 5000 }), 'unsupported-pixel-format', /5000 x 5000 pixels/);
  });

  it('an invalid decimal string', async () => {
    await expectReason(rewrite(explicit(), { RescaleSlope: 'abc' }), 'malformed', /RescaleSlope "abc" is not a valid DS value/);
  });

  it('random damage gives a frame or a PixelDecodeError, never another exception', async () => {
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const outcomes = new Set<string>();
    for (const name of ['u12_explicit', 'u12_implicit', 'u12_deflated', 'u12_rle', 'u12_jpeg_p14', 'u12_jpegls', 'u12_j2k', 'u12_htj2k']) {
      const original = golden(name);
      for (let round = 0; round < 25; round++) {
        const file = Buffer.from(original);
        // Mostly the header, where lengths and attributes live; now and then the pixel data.
        for (let k = 0; k < 1 + round % 6; k++) file[Math.floor(random() * (random() < 0.7 ? 1500 : file.length))] = Math.floor(random() * 256);
        const cut = round % 10 === 9 ? Math.floor(random() * file.length) : file.length;
        const outcome = await decodePixels(file.subarray(0, cut)).then(
          () => 'frame',
          (err: unknown) => (err instanceof PixelDecodeError ? err.reason : String(err)),
        );
        outcomes.add(outcome);
      }
    }
    const reasons: string[] = ['frame', 'not-dicom', 'malformed', 'truncated', 'no-pixel-data', 'unsupported-transfer-syntax', 'unsupported-pixel-format', 'not-grayscale', 'pixel-count', 'corrupt-stream'];
    expect([...outcomes].filter((o) => !reasons.includes(o))).toEqual([]);
  });

  describe('corrupt JPEG-LS streams, and recovery after them', () => {
    const jpegLs = () => golden('u12_jpegls');
    const codestreamStart = (file: Buffer) => file.indexOf(Buffer.from([0xff, 0xd8, 0xff, 0xf7]));

    it('scrambled scan data', async () => {
      const file = jpegLs();
      for (let i = codestreamStart(file) + 60; i < file.length - 20; i += 7) file[i] = file[i]! ^ 0x5a;
      await expectReason(file, 'corrupt-stream', /JPEG-LS codestream cannot be decoded/);
    });

    it('no codestream at all', async () => {
      const file = jpegLs();
      file.fill(0, codestreamStart(file), file.length - 8);
      await expectReason(file, 'corrupt-stream', /JPEG-LS codestream cannot be decoded/);
    });

    it('a truncated codestream', async () => {
      const frame = (dcmjs.data.DicomMessage.readFile(arrayBuffer(jpegLs())).dict['7FE00010']!.Value as ArrayBuffer[])[0]!;
      await expectReason(rewrite(jpegLs(), { PixelData: [frame.slice(0, 2000)] }), 'corrupt-stream', /JPEG-LS codestream cannot be decoded/);
    });

    it('good files decode correctly after many bad ones', async () => {
      const expected = (await decodePixels(explicit())).pixels;
      const start = codestreamStart(jpegLs());
      for (let round = 0; round < 40; round++) {
        const bad = jpegLs();
        for (let i = start + 40 + round; i < bad.length - 20; i += 5 + (round % 7)) bad[i] = bad[i]! ^ (round * 37 + 1);
        const results = await Promise.allSettled([decodePixels(bad), decodePixels(jpegLs())]);
        const good = results[1];
        expect(good.status === 'fulfilled' ? good.value.pixels : good.reason).toEqual(expected);
      }
      expect((await decodePixels(jpegLs())).pixels).toEqual(expected);
    });
  });
});
