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

/**
 * Hounsfield units of a frame, in the reference's order (tools/train/ich_train/preprocess.py):
 * stored value = the BitsStored bits ending at HighBit, sign-extended when
 * PixelRepresentation is 1; padding is recognised on that stored value; MONOCHROME1 inverts
 * every stored bit; the RSNA fix adds 1000 modulo 4096 and uses intercept -1000;
 * HU = value x slope + intercept in float64, rounded once to float32; padding becomes air.
 * One pass, no allocation beyond `out`.
 */
export function hounsfieldUnits(frame: PixelFrame, out = new Float32Array(frame.rows * frame.columns)): Float32Array {
  const { bitsStored, highBit, pixelRepresentation, pixels } = frame;
  const count = frame.rows * frame.columns;
  if (!Number.isInteger(bitsStored) || bitsStored < 1 || bitsStored > 16) {
    throw new RangeError(`BitsStored ${bitsStored} is not supported (1..16)`);
  }
  const shift = highBit + 1 - bitsStored;
  if (shift < 0 || highBit >= frame.bitsAllocated) {
    throw new RangeError(`HighBit ${highBit} does not fit BitsStored ${bitsStored} in BitsAllocated ${frame.bitsAllocated}`);
  }
  if (pixels.length < count || out.length < count) throw new RangeError(`a ${frame.rows} x ${frame.columns} frame needs ${count} values`);

  const mask = (1 << bitsStored) - 1;
  const signed = pixelRepresentation === 1;
  const signBit = 1 << (bitsStored - 1);
  const monochrome1 = frame.photometricInterpretation === 'MONOCHROME1';
  const fix = needsRsnaFix(bitsStored, pixelRepresentation, frame.rescaleIntercept);
  const slope = frame.rescaleSlope;
  const intercept = fix ? rsnaFixedIntercept : frame.rescaleIntercept;
  const [padLow, padHigh] = paddingRange(frame);

  for (let i = 0; i < count; i++) {
    // `>>>` reads a negative Int16/Int8 element as its two's complement bit pattern.
    let value = (pixels[i]! >>> shift) & mask;
    if (signed && value >= signBit) value -= mask + 1;
    if (value >= padLow && value <= padHigh) {
      out[i] = airHu;
      continue;
    }
    if (monochrome1) value = signed ? -1 - value : mask - value;
    if (fix) {
      value += 1000;
      if (value >= 4096) value -= 4096;
    }
    out[i] = value * slope + intercept;
  }
  return out;
}

/** [low, high] stored values that are padding; an empty range when there is none. */
function paddingRange(frame: PixelFrame): [number, number] {
  const value = frame.pixelPaddingValue;
  if (value === undefined) return [Infinity, -Infinity];
  const limit = frame.pixelPaddingRangeLimit ?? value;
  return [Math.min(value, limit), Math.max(value, limit)];
}
