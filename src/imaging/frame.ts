/** Stored pixel values of one grayscale frame, typed as the data set declares them. */
export type StoredPixels = Uint8Array | Int8Array | Uint16Array | Int16Array;

/**
 * One decoded frame with the attributes that turn its stored values into Hounsfield units
 * (PS3.3 C.7.6.3 Image Pixel Module, C.11.1 Modality LUT Module). Produced by
 * `decodePixels` (src/dicom/pixels.ts); consumed by the pure functions in this folder.
 */
export interface PixelFrame {
  rows: number;
  columns: number;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  highBit: number;
  /** 0 unsigned, 1 two's complement. */
  pixelRepresentation: 0 | 1;
  photometricInterpretation: 'MONOCHROME1' | 'MONOCHROME2';
  samplesPerPixel: 1;
  /** Absent, empty or zero in the data set reads as 1, as in the reference. */
  rescaleSlope: number;
  /** Absent or empty reads as 0. */
  rescaleIntercept: number;
  /** In the pixel representation's own sign, comparable with stored values. */
  pixelPaddingValue?: number;
  pixelPaddingRangeLimit?: number;
  /** rows * columns values, row-major; only the BitsStored bits at HighBit are meaningful. */
  pixels: StoredPixels;
}
