/** Why a file's pixels cannot be decoded; stable strings for logs, results and tests. */
export type PixelDecodeReason =
  /** No Part 10 preamble, "DICM" prefix or file meta group. */
  | 'not-dicom'
  /** The data set cannot be parsed: bad VR, lengths that do not add up, nesting too deep. */
  | 'malformed'
  /** The file ends inside an element, often inside the pixel data. */
  | 'truncated'
  | 'no-pixel-data'
  | 'unsupported-transfer-syntax'
  /** Pixel module attributes missing or outside what the node handles (e.g. BitsStored 24). */
  | 'unsupported-pixel-format'
  /** More than one sample per pixel, or a photometric interpretation other than MONOCHROME1/2. */
  | 'not-grayscale'
  /** The pixel data holds more or fewer bytes than Rows x Columns x BitsAllocated declare. */
  | 'pixel-count'
  /** The compressed codestream could not be decoded. */
  | 'corrupt-stream';

export class PixelDecodeError extends Error {
  readonly reason: PixelDecodeReason;

  constructor(reason: PixelDecodeReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PixelDecodeError';
    this.reason = reason;
  }
}
