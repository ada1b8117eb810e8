import type { WindowSpec } from './types.js';

/** A window's bounds as float32 numbers, as the reference holds them (numpy float32 scalars). */
export interface WindowBounds {
  low: number;
  high: number;
  width: number;
}

export function windowBounds(window: WindowSpec): WindowBounds {
  if (!(window.width > 0)) throw new RangeError(`window ${window.name} has width ${window.width}; it must be positive`);
  const low = Math.fround(window.center - window.width / 2);
  const width = Math.fround(window.width);
  return { low, width, high: Math.fround(low + width) };
}

/**
 * One window (c, w) applied to one HU value: clipped to [c - w/2, c + w/2], scaled to [0, 1].
 * Each step is rounded to float32 like numpy's float32 arithmetic, so results match the
 * reference bit for bit.
 */
export function windowValue(hu: number, b: WindowBounds): number {
  const clipped = hu < b.low ? b.low : hu > b.high ? b.high : hu;
  return Math.fround(Math.fround(clipped - b.low) / b.width);
}

/** Writes `window` applied to every value of `hu` into `out`. */
export function applyWindow(hu: Float32Array, window: WindowSpec, out: Float32Array = new Float32Array(hu.length)): Float32Array {
  const b = windowBounds(window);
  for (let i = 0; i < hu.length; i++) out[i] = windowValue(hu[i]!, b);
  return out;
}
