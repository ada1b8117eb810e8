/**
 * Bilinear resize reproducing OpenCV 4.x `cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)`
 * on a float32 image (modules/imgproc/src/resize.cpp), which the reference applies to each
 * windowed channel:
 * - source coordinate of destination pixel d: (d + 0.5) * (src / dst) - 0.5, computed in
 *   double and rounded to float; weights 1 - f and f in float32 (the fixed-point weights are
 *   only for 8-bit images);
 * - a column left of the first or right of the last source pixel copies that pixel, while a
 *   row outside the image reads the border row twice with both weights (OpenCV clamps the
 *   column weight but only the row index);
 * - a horizontal pass, then a vertical one, every product and sum rounded to float32.
 * No antialiasing: a downscale by more than 2 skips source pixels, as OpenCV does.
 * An exact halving in both directions is the one case OpenCV computes differently (its fast
 * INTER_AREA path): the result is the same except, when dstCols is not a multiple of 4, in
 * the last dstCols % 4 columns, which may differ by one float32 rounding (1 ulp).
 */

import type { StoredPixels } from './frame.js';
import { resizeKernelBase64 } from './resizeKernelBinary.js';

/**
 * An image of one or more channels given by lookup. With `codes`, channel c of pixel i is
 * tables[c][(codes.words[i] >>> shift) & mask]: a frame as it stands, its stored pixel words
 * and, per window, a table from stored bits to that channel's value (huTable, applyWindow),
 * so no full-size channel image is ever written. Without, each table is a channel's plane.
 */
export interface TabulatedImage {
  rows: number;
  columns: number;
  tables: readonly Float32Array[];
  codes?: { words: StoredPixels; shift: number; mask: number };
}

/** One float32 plane [srcRows, srcCols] resized to [dstRows, dstCols]. */
export function resizeLinear(src: Float32Array, srcRows: number, srcCols: number, dstRows: number, dstCols: number): Float32Array {
  return resizeTabulated({ rows: srcRows, columns: srcCols, tables: [src] }, dstRows, dstCols);
}

/**
 * Every channel resized, float32 [channels, dstRows, dstCols]: into `out` when given (an
 * inference worker writes each slice straight into its batch), else a new array.
 * A horizontal pass over the source rows some destination row reads, per channel
 * [srcRows, dstCols], then a vertical one. Both run in WebAssembly (resize.wat, ~3x faster than
 * the same loops in JavaScript: float32 arithmetic without a conversion at every step), on the
 * bytes copied into its memory:
 *   tables (channels x entries f32) | words | taps | rows read (u8) | horizontal | destination
 */
export function resizeTabulated(image: TabulatedImage, dstRows: number, dstCols: number, out?: Float32Array): Float32Array {
  const { rows: srcRows, columns: srcCols, tables, codes } = image;
  const channels = tables.length;
  const pixels = srcRows * srcCols;
  if ((codes?.words.length ?? tables[0]?.length ?? 0) < pixels) throw new RangeError(`the image holds fewer than ${srcRows} x ${srcCols} pixels`);
  // Without codes a pixel's table entry is its own index.
  const entries = codes ? codes.mask + 1 : pixels;
  if (tables.some((t) => t.length < entries)) throw new RangeError(`every table needs ${entries} entries`);
  const length = channels * dstRows * dstCols;
  if (out && out.length !== length) throw new RangeError(`the output holds ${out.length} values; ${channels} x ${dstRows} x ${dstCols} are written`);
  const dst = out ?? new Float32Array(length);
  if (length === 0) return dst;

  const rows = interpolationTaps(srcRows, dstRows);
  const cols = interpolationTaps(srcCols, dstCols);
  const words = codes ? new Uint8Array(codes.words.buffer, codes.words.byteOffset, pixels * codes.words.BYTES_PER_ELEMENT) : undefined;
  const tableBytes = entries * 4;
  const wordsAt = align(channels * tableBytes);
  const tapsAt = align(wordsAt + (words?.length ?? 0));
  const readAt = align(tapsAt + 16 * (dstCols + dstRows));
  const horizontalAt = align(readAt + srcRows);
  const dstAt = align(horizontalAt + 4 * channels * srcRows * dstCols);
  const k = resizeKernel(dstAt + 4 * length);
  const memory = k.memory.buffer;
  if (k.tables !== tables || k.entries !== entries) {
    tables.forEach((t, c) => new Float32Array(memory, c * tableBytes, entries).set(t.subarray(0, entries)));
    // Tables given per layout (windowTables keeps them) stay in memory for the next slice.
    k.tables = codes ? tables : undefined;
    k.entries = entries;
  }
  if (words) new Uint8Array(memory, wordsAt, words.length).set(words);
  const ints = new Int32Array(memory, tapsAt, 4 * (dstCols + dstRows));
  const floats = new Float32Array(memory, tapsAt, 4 * (dstCols + dstRows));
  ints.set(cols.first, 0);
  ints.set(cols.second, dstCols);
  floats.set(cols.weight0, 2 * dstCols);
  floats.set(cols.weight1, 3 * dstCols);
  ints.set(rows.first, 4 * dstCols);
  ints.set(rows.second, 4 * dstCols + dstRows);
  floats.set(rows.weight0, 4 * dstCols + 2 * dstRows);
  floats.set(rows.weight1, 4 * dstCols + 3 * dstRows);
  const read = new Uint8Array(memory, readAt, srcRows).fill(0);
  for (let dy = 0; dy < dstRows; dy++) read[rows.first[dy]!] = read[rows.second[dy]!] = 1;
  const mode = !codes ? 0 : codes.words.BYTES_PER_ELEMENT;
  k.resize(wordsAt, mode, codes?.shift ?? 0, codes?.mask ?? -1, srcRows, srcCols, 0, tableBytes, channels, dstRows, dstCols, tapsAt, readAt, horizontalAt, dstAt);
  dst.set(new Float32Array(memory, dstAt, length));
  releaseLargeKernel();
  return dst;
}

function align(offset: number): number {
  return (offset + 15) & ~15;
}

interface ResizeKernel {
  memory: WebAssembly.Memory;
  resize: (...args: number[]) => void;
  /** The tables in memory now, when they may serve the next call, and the entries copied of each. */
  tables: readonly Float32Array[] | undefined;
  entries: number;
}

/** One instance per thread, made at first use; its memory only grows. */
let kernel: ResizeKernel | undefined;
const compiled = new WebAssembly.Module(Buffer.from(resizeKernelBase64, 'base64'));
/** A kernel whose memory grew past this (a very large image) is dropped after its call. */
const keptKernelBytes = 64 * 1024 * 1024;

function resizeKernel(bytes: number): ResizeKernel {
  if (!kernel) {
    const { exports } = new WebAssembly.Instance(compiled);
    kernel = { memory: exports['memory'] as WebAssembly.Memory, resize: exports['resize'] as ResizeKernel['resize'], tables: undefined, entries: 0 };
  }
  const have = kernel.memory.buffer.byteLength;
  if (have < bytes) kernel.memory.grow(Math.ceil((bytes - have) / 65536));
  return kernel;
}

function releaseLargeKernel(): void {
  if (kernel && kernel.memory.buffer.byteLength > keptKernelBytes) kernel = undefined;
}

/** For each destination index: the two source indices (clamped to the image) and their float32 weights. */
interface Taps {
  first: Int32Array;
  second: Int32Array;
  weight0: Float32Array;
  weight1: Float32Array;
}

function interpolationTaps(srcSize: number, dstSize: number): Taps {
  const scale = 1 / (dstSize / srcSize);
  const taps: Taps = {
    first: new Int32Array(dstSize),
    second: new Int32Array(dstSize),
    weight0: new Float32Array(dstSize),
    weight1: new Float32Array(dstSize),
  };
  for (let d = 0; d < dstSize; d++) {
    const f = Math.fround((d + 0.5) * scale - 0.5);
    const s = Math.floor(f);
    const frac = Math.fround(f - s);
    taps.first[d] = clamp(s, srcSize);
    taps.second[d] = clamp(s + 1, srcSize);
    taps.weight0[d] = 1 - frac;
    taps.weight1[d] = frac;
  }
  return taps;
}

function clamp(index: number, size: number): number {
  return index < 0 ? 0 : index >= size ? size - 1 : index;
}
