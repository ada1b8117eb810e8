/**
 * Bilinear resize of one float32 plane, reproducing OpenCV 4.x `cv2.resize(img, (w, h),
 * interpolation=cv2.INTER_LINEAR)` on a float32 image (modules/imgproc/src/resize.cpp),
 * which is what the reference applies to each windowed channel:
 * - source coordinate of destination pixel d: (d + 0.5) * (src / dst) - 0.5, computed in
 *   double and rounded to float; weights 1 - f and f in float32 (no fixed point: that path
 *   is only for 8-bit images);
 * - columns left of the first or right of the last source pixel take that pixel alone;
 *   rows outside the image read the border row (OpenCV clamps the row index, not the weight);
 * - a horizontal pass, then a vertical one, each product and sum rounded to float32;
 * - an exact halving in both directions is averaged over 2x2 blocks instead (OpenCV switches
 *   INTER_LINEAR to its fast INTER_AREA path there), summed in its SIMD order.
 * No antialiasing: a downscale by more than 2 skips source pixels, as OpenCV does.
 */
export function resizeLinear(
  src: Float32Array,
  srcRows: number,
  srcCols: number,
  dstRows: number,
  dstCols: number,
  dst = new Float32Array(dstRows * dstCols),
  dstOffset = 0,
): Float32Array {
  if (src.length < srcRows * srcCols) throw new RangeError(`source holds ${src.length} values, not ${srcRows} x ${srcCols}`);
  if (dst.length < dstOffset + dstRows * dstCols) throw new RangeError('destination too small');
  if (srcRows === 2 * dstRows && srcCols === 2 * dstCols) {
    halve(src, srcCols, dstRows, dstCols, dst, dstOffset);
    return dst;
  }
  const columns = interpolationTaps(srcCols, dstCols);
  const rows = interpolationTaps(srcRows, dstRows);
  // Horizontal pass over every source row a destination row reads.
  const horizontal = new Float32Array(srcRows * dstCols);
  const needed = new Uint8Array(srcRows);
  for (let dy = 0; dy < dstRows; dy++) {
    needed[rows.first[dy]!] = 1;
    needed[rows.second[dy]!] = 1;
  }
  for (let sy = 0; sy < srcRows; sy++) {
    if (needed[sy]) resizeRow(src, sy * srcCols, columns, horizontal, sy * dstCols);
  }
  for (let dy = 0; dy < dstRows; dy++) {
    const r0 = rows.first[dy]! * dstCols;
    const r1 = rows.second[dy]! * dstCols;
    const b0 = rows.weight0[dy]!;
    const b1 = rows.weight1[dy]!;
    const out = dstOffset + dy * dstCols;
    for (let x = 0; x < dstCols; x++) {
      dst[out + x] = Math.fround(horizontal[r0 + x]! * b0) + Math.fround(horizontal[r1 + x]! * b1);
    }
  }
  return dst;
}

/** For each destination index: the two source indices and their float32 weights. */
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

/**
 * One row, horizontally. OpenCV zeroes the weight of a tap outside the row (so the border
 * pixel is copied exactly) where the vertical pass keeps both weights on the clamped row.
 */
function resizeRow(src: Float32Array, srcStart: number, taps: Taps, out: Float32Array, outStart: number): void {
  for (let dx = 0; dx < taps.first.length; dx++) {
    const s0 = taps.first[dx]!;
    const s1 = taps.second[dx]!;
    out[outStart + dx] =
      s0 === s1
        ? src[srcStart + s0]!
        : Math.fround(src[srcStart + s0]! * taps.weight0[dx]!) + Math.fround(src[srcStart + s1]! * taps.weight1[dx]!);
  }
}

function clamp(index: number, size: number): number {
  return index < 0 ? 0 : index >= size ? size - 1 : index;
}

/** OpenCV's fast INTER_AREA for a factor of 2: ((a + b) + (c + d)) * 0.25 in float32. */
function halve(src: Float32Array, srcCols: number, dstRows: number, dstCols: number, dst: Float32Array, dstOffset: number): void {
  for (let dy = 0; dy < dstRows; dy++) {
    const top = 2 * dy * srcCols;
    const bottom = top + srcCols;
    const out = dstOffset + dy * dstCols;
    // Four destination pixels per SIMD step; a remainder goes through the scalar loop,
    // which sums left to right.
    const simdEnd = dstCols - (dstCols % 4);
    for (let dx = 0; dx < dstCols; dx++) {
      const a = src[top + 2 * dx]!;
      const b = src[top + 2 * dx + 1]!;
      const c = src[bottom + 2 * dx]!;
      const d = src[bottom + 2 * dx + 1]!;
      const sum = dx < simdEnd ? Math.fround(Math.fround(a + b) + Math.fround(c + d)) : Math.fround(Math.fround(Math.fround(a + b) + c) + d);
      dst[out + dx] = sum * 0.25;
    }
  }
}
