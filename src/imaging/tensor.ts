import { decodePixels } from '../dicom/pixels.js';
import type { PixelFrame } from './frame.js';
import { hounsfieldUnits } from './hounsfield.js';
import { resizeLinear } from './resize.js';
import type { InputSpec } from './types.js';
import { applyWindow } from './windows.js';

/**
 * The model input for one frame: HU, one channel per window in the spec's order, each
 * resized to size x size. float32 [channels, size, size], channel-major.
 */
export function sliceTensor(frame: PixelFrame, spec: InputSpec): Float32Array {
  const { rows, columns } = frame;
  const plane = spec.size * spec.size;
  const tensor = new Float32Array(spec.windows.length * plane);
  const hu = hounsfieldUnits(frame);
  const windowed = new Float32Array(rows * columns);
  spec.windows.forEach((window, channel) => {
    applyWindow(hu, window, windowed);
    resizeLinear(windowed, rows, columns, spec.size, spec.size, tensor, channel * plane);
  });
  return tensor;
}

/** Decode a Part 10 file's first frame and build its model input (see decodePixels for errors). */
export async function fileToTensor(file: Buffer, spec: InputSpec): Promise<Float32Array> {
  return sliceTensor(await decodePixels(file), spec);
}
