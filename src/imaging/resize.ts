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
  codes?: { words: ArrayLike<number>; shift: number; mask: number };
}

/** One float32 plane [srcRows, srcCols] resized to [dstRows, dstCols]. */
export function resizeLinear(src: Float32Array, srcRows: number, srcCols: number, dstRows: number, dstCols: number): Float32Array {
  return resizeTabulated({ rows: srcRows, columns: srcCols, tables: [src] }, dstRows, dstCols);
}

/**
 * Every channel resized, float32 [channels, dstRows, dstCols]: into `out` when given (an
 * inference worker writes each slice straight into its batch), else a new array.
 */
export function resizeTabulated(image: TabulatedImage, dstRows: number, dstCols: number, out?: Float32Array): Float32Array {
  const { rows: srcRows, columns: srcCols, tables } = image;
  const channels = tables.length;
  const pixels = srcRows * srcCols;
  // Without codes a pixel's table entry is its own index.
  const { words, shift, mask } = image.codes ?? { words: undefined, shift: 0, mask: 0 };
  if ((words?.length ?? tables[0]?.length ?? 0) < pixels) throw new RangeError(`the image holds fewer than ${srcRows} x ${srcCols} pixels`);
  const entries = words ? mask + 1 : pixels;
  if (tables.some((t) => t.length < entries)) throw new RangeError(`every table needs ${entries} entries`);

  const rows = interpolationTaps(srcRows, dstRows);
  const { first, second, weight0, weight1 } = interpolationTaps(srcCols, dstCols);
  // Horizontal pass, per channel [srcRows, dstCols], over the source rows some destination row reads.
  const read = new Uint8Array(srcRows);
  for (let dy = 0; dy < dstRows; dy++) read[rows.first[dy]!] = read[rows.second[dy]!] = 1;
  const plane = srcRows * dstCols;
  const horizontal = scratch(channels * plane);
  for (let sy = 0; sy < srcRows; sy++) {
    if (!read[sy]) continue;
    const rowStart = sy * srcCols;
    const outStart = sy * dstCols;
    for (let dx = 0; dx < dstCols; dx++) {
      const s0 = rowStart + first[dx]!;
      const s1 = rowStart + second[dx]!;
      const k0 = words ? (words[s0]! >>> shift) & mask : s0;
      const k1 = words ? (words[s1]! >>> shift) & mask : s1;
      const a0 = weight0[dx]!;
      const a1 = weight1[dx]!;
      for (let c = 0, h = outStart + dx; c < channels; c++, h += plane) {
        const table = tables[c]!;
        horizontal[h] = s0 === s1 ? table[k0]! : Math.fround(table[k0]! * a0) + Math.fround(table[k1]! * a1);
      }
    }
  }

  const length = channels * dstRows * dstCols;
  if (out && out.length !== length) throw new RangeError(`the output holds ${out.length} values; ${channels} x ${dstRows} x ${dstCols} are written`);
  const dst = out ?? new Float32Array(length);
  for (let dy = 0; dy < dstRows; dy++) {
    const b0 = rows.weight0[dy]!;
    const b1 = rows.weight1[dy]!;
    for (let c = 0; c < channels; c++) {
      const r0 = c * plane + rows.first[dy]! * dstCols;
      const r1 = c * plane + rows.second[dy]! * dstCols;
      const o = (c * dstRows + dy) * dstCols;
      for (let x = 0; x < dstCols; x++) dst[o + x] = Math.fround(horizontal[r0 + x]! * b0) + Math.fround(horizontal[r1 + x]! * b1);
    }
  }
  return dst;
}

/**
 * The horizontal pass's buffer, kept between calls: a 512x512 slice needs 768 KiB, which
 * allocated (and zeroed) per slice cost more than the pass itself. Every entry read is
 * written first in the same call, so the contents left by the last call never matter.
 */
let kept = new Float32Array(0);
function scratch(length: number): Float32Array {
  if (kept.length < length) kept = new Float32Array(length);
  return kept;
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
