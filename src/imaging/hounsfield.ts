import type { PixelFrame } from './frame.js';

/** Padding pixels become air: below every default window, so they read 0 in each channel. */
export const airHu = -1000;

/** Intercept the RSNA fix substitutes for the defective one. */
const rsnaFixedIntercept = -1000;

/**
 * The RSNA 2019 data's known defect (DESIGN.md section 3): some 12-bit unsigned images carry
 * an intercept near 0 while their stored values wrapped around 4096; they need the fix.
 */
export function needsRsnaFix(bitsStored: number, pixelRepresentation: number, rescaleIntercept: number): boolean {
  return bitsStored === 12 && pixelRepresentation === 0 && rescaleIntercept > -100;
}

/** Where a pixel word keeps its stored value: BitsStored bits ending at HighBit (PS3.5 8.1.1). */
export interface StoredBits {
  shift: number;
  mask: number;
}

export function storedBits(frame: PixelFrame): StoredBits {
  const { bitsStored, highBit, bitsAllocated } = frame;
  if (!Number.isInteger(bitsStored) || bitsStored < 1 || bitsStored > 16) {
    throw new RangeError(`BitsStored ${bitsStored} is not supported (1..16)`);
  }
  const shift = highBit + 1 - bitsStored;
  if (shift < 0 || highBit >= bitsAllocated) {
    throw new RangeError(`HighBit ${highBit} does not fit BitsStored ${bitsStored} in BitsAllocated ${bitsAllocated}`);
  }
  return { shift, mask: (1 << bitsStored) - 1 };
}

/**
 * HU for every stored bit pattern 0..2^BitsStored - 1 of this frame, in the reference's
 * order (tools/train/ich_train/preprocess.py): sign extension when PixelRepresentation is 1;
 * padding recognised on that stored value; MONOCHROME1 inverts every stored bit; the RSNA fix
 * adds 1000 modulo 4096 and uses intercept -1000; HU = value x slope + intercept in float64,
 * rounded once to float32; padding becomes air.
 * Every later step depends on a pixel only through its bit pattern, so the per-pixel work of
 * a slice is one table lookup (4096 entries for 12-bit data, 65536 for 16-bit).
 */
export function huTable(frame: PixelFrame): Float32Array {
  const { mask } = storedBits(frame);
  const signed = frame.pixelRepresentation === 1;
  const signBit = 1 << (frame.bitsStored - 1);
  const monochrome1 = frame.photometricInterpretation === 'MONOCHROME1';
  const fix = needsRsnaFix(frame.bitsStored, frame.pixelRepresentation, frame.rescaleIntercept);
  const slope = frame.rescaleSlope;
  const intercept = fix ? rsnaFixedIntercept : frame.rescaleIntercept;
  const [padLow, padHigh] = paddingRange(frame);
  const table = new Float32Array(mask + 1);
  for (let bits = 0; bits <= mask; bits++) {
    let value = signed && bits >= signBit ? bits - (mask + 1) : bits;
    if (value >= padLow && value <= padHigh) {
      table[bits] = airHu;
      continue;
    }
    if (monochrome1) value = signed ? -1 - value : mask - value;
    if (fix) {
      value += 1000;
      if (value >= 4096) value -= 4096;
    }
    table[bits] = value * slope + intercept;
  }
  return table;
}

/** Everything huTable reads: frames with equal keys have equal tables. */
export function huTableKey(frame: PixelFrame): string {
  const f = frame;
  return [f.bitsStored, f.pixelRepresentation, f.photometricInterpretation, f.rescaleSlope, f.rescaleIntercept, f.pixelPaddingValue, f.pixelPaddingRangeLimit].join(' ');
}

/**
 * out[i] = table[stored bits of pixel i]: the HU image with huTable, one window's channel
 * with that table windowed.
 */
export function mapStoredValues(frame: PixelFrame, table: Float32Array, out: Float32Array = new Float32Array(frame.rows * frame.columns)): Float32Array {
  const { shift, mask } = storedBits(frame);
  const { pixels } = frame;
  const count = frame.rows * frame.columns;
  if (pixels.length < count || out.length < count) throw new RangeError(`a ${frame.rows} x ${frame.columns} frame needs ${count} values`);
  if (table.length <= mask) throw new RangeError(`the table has ${table.length} entries; BitsStored ${frame.bitsStored} needs ${mask + 1}`);
  // `>>>` reads a negative Int16/Int8 element as its two's complement bit pattern.
  for (let i = 0; i < count; i++) out[i] = table[(pixels[i]! >>> shift) & mask]!;
  return out;
}

/** The frame in Hounsfield units, float32. */
export function hounsfieldUnits(frame: PixelFrame, out?: Float32Array): Float32Array {
  return mapStoredValues(frame, huTable(frame), out);
}

/** [low, high] stored values that are padding; an empty range when there is none. */
function paddingRange(frame: PixelFrame): [number, number] {
  const value = frame.pixelPaddingValue;
  if (value === undefined) return [Infinity, -Infinity];
  const limit = frame.pixelPaddingRangeLimit ?? value;
  return [Math.min(value, limit), Math.max(value, limit)];
}
