import { decodePixels } from '../dicom/pixels.js';
import type { PixelFrame } from './frame.js';
import { huTable, huTableKey, storedBits } from './hounsfield.js';
import { resizeTabulated } from './resize.js';
import type { InputSpec, WindowSpec } from './types.js';
import { applyWindow } from './windows.js';

/**
 * The model input for one frame: HU, one channel per window in the spec's order, each
 * resized to size x size. float32 [channels, size, size], channel-major; written into `out`
 * when given.
 * The windows are applied to the frame's HU table rather than to its pixels, and the resize
 * reads pixels through those tables (see huTable, TabulatedImage).
 */
export function sliceTensor(frame: PixelFrame, spec: InputSpec, out?: Float32Array): Float32Array {
  return resizeTabulated(
    { rows: frame.rows, columns: frame.columns, tables: windowTables(frame, spec.windows), codes: { words: frame.pixels, ...storedBits(frame) } },
    spec.size,
    spec.size,
    out,
  );
}

/** Decodes a Part 10 file's first frame and builds its model input (errors: see decodePixels). */
export async function fileToTensor(file: Buffer, spec: InputSpec, out?: Float32Array): Promise<Float32Array> {
  return sliceTensor(await decodePixels(file), spec, out);
}

/**
 * The slices of a series share their pixel attributes, and 16-bit tables have 65536 entries
 * per window (~1-5 ms to build): the tables of the last few pixel layouts are kept and reused
 * while the key matches. A worker classifies slices of several series in turn, so one entry
 * was rebuilt at every switch. The tables are only read.
 */
const kept = new Map<string, Float32Array[]>();
const keptLayouts = 8;

function windowTables(frame: PixelFrame, windows: readonly WindowSpec[]): Float32Array[] {
  const key = `${huTableKey(frame)} ${JSON.stringify(windows)}`;
  let tables = kept.get(key);
  if (tables) {
    // Most recently used last: the first entry is the one to drop.
    kept.delete(key);
  } else {
    const hu = huTable(frame);
    tables = windows.map((w) => applyWindow(hu, w));
    if (kept.size >= keptLayouts) kept.delete(kept.keys().next().value!);
  }
  kept.set(key, tables);
  return tables;
}
