import { syntheticSlice } from '../dicom/syntheticCt.js';

let slices: Uint8Array[] | undefined;

/**
 * Two 512x512 phantom slices, one of each common CT encoding (16-bit signed, 12-bit unsigned),
 * that each worker preprocesses a few times before it says it is ready. Until V8 has optimized
 * the decoding and resize code, a slice's preprocessing takes 3-4 ms instead of ~1: measured on
 * the real series, that was ~60 ms of the first study's time per worker, paid while the model
 * ran on the other core and the optimizing compiler needed one too. Made once per process.
 */
export function warmUpSlices(): Uint8Array[] {
  slices ??= (['int16', 'uint12'] as const).map((encoding) => new Uint8Array(syntheticSlice({ encoding, rows: 512, columns: 512 }).file));
  return slices;
}
