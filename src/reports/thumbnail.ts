import { decodePixels } from '../dicom/pixels.js';
import { hounsfieldUnits } from '../imaging/hounsfield.js';
import { applyWindow } from '../imaging/windows.js';
import { resizeLinear } from '../imaging/resize.js';
import { encodeGrayPng } from '../util/png.js';

/** The brain window (WL 40, WW 80), the one radiologists read ICH in. */
const brainWindow = { name: 'brain', center: 40, width: 80 };

/** A PNG of a slice in the brain window, `size` pixels wide, for the alert email. */
export async function sliceThumbnail(file: Buffer, size = 256): Promise<Buffer> {
  const frame = await decodePixels(file);
  const windowed = applyWindow(hounsfieldUnits(frame), brainWindow);
  const height = Math.max(1, Math.round((size * frame.rows) / frame.columns));
  const small = resizeLinear(windowed, frame.rows, frame.columns, height, size);
  const gray = new Uint8Array(small.length);
  for (let i = 0; i < small.length; i++) gray[i] = Math.round(small[i]! * 255);
  return encodeGrayPng(gray, size, height);
}
