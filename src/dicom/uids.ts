/** UIDs from PS3.6 Annex A that the node names in code. */
export const SopClass = {
  Verification: '1.2.840.10008.1.1',
  CtImageStorage: '1.2.840.10008.5.1.4.1.1.2',
  EnhancedCtImageStorage: '1.2.840.10008.5.1.4.1.1.2.1',
  ComprehensiveSr: '1.2.840.10008.5.1.4.1.1.88.33',
  KeyObjectSelection: '1.2.840.10008.5.1.4.1.1.88.59',
} as const;

/** Every standard storage SOP class lives under this branch (PS3.4 Annex B.5). */
export const storageSopClassPrefix = '1.2.840.10008.5.1.4.1.1.';

export const TransferSyntax = {
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRLittleEndian: '1.2.840.10008.1.2.1',
  DeflatedExplicitVRLittleEndian: '1.2.840.10008.1.2.1.99',
  /** Retired; read by `classify`, never accepted by the SCP. */
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
  RleLossless: '1.2.840.10008.1.2.5',
  JpegLosslessP14: '1.2.840.10008.1.2.4.57',
  JpegLosslessSV1: '1.2.840.10008.1.2.4.70',
  JpegLsLossless: '1.2.840.10008.1.2.4.80',
  JpegLsNearLossless: '1.2.840.10008.1.2.4.81',
  Jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
  Jpeg2000: '1.2.840.10008.1.2.4.91',
  HtJpeg2000Lossless: '1.2.840.10008.1.2.4.201',
  HtJpeg2000LosslessRpcl: '1.2.840.10008.1.2.4.202',
  HtJpeg2000: '1.2.840.10008.1.2.4.203',
} as const;

const uncompressed = [TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian];
/** Lossless compressed syntaxes we decode, smallest first. */
const losslessCompressed = [
  TransferSyntax.JpegLsLossless,
  TransferSyntax.HtJpeg2000Lossless,
  TransferSyntax.HtJpeg2000LosslessRpcl,
  TransferSyntax.Jpeg2000Lossless,
  TransferSyntax.JpegLosslessSV1,
  TransferSyntax.JpegLosslessP14,
  TransferSyntax.RleLossless,
  TransferSyntax.DeflatedExplicitVRLittleEndian,
];
/** Accepted only when a sender offers nothing else. */
const lossy = [TransferSyntax.JpegLsNearLossless, TransferSyntax.Jpeg2000, TransferSyntax.HtJpeg2000];

/** Every transfer syntax the SCP accepts and the imaging code decodes. */
export const acceptedTransferSyntaxes: readonly string[] = [...uncompressed, ...losslessCompressed, ...lossy];

/**
 * The order in which the SCP picks one of the syntaxes a sender proposes (dicom.preferCompressed).
 * Uncompressed first by default: decoding a 512x512 slice costs 0.3 ms uncompressed, 1.1 ms RLE,
 * 3.7 ms JPEG lossless SV1 and 10 ms JPEG-LS, about one model run on a CPU core, so a compressed
 * stream would halve a CPU node's classification rate. A GPU node with cores to decode and a
 * slow network may prefer 2-5x fewer bytes on the wire and on disk.
 */
export function transferSyntaxPreference(preferCompressed: boolean): readonly string[] {
  return preferCompressed ? [...losslessCompressed, ...uncompressed, ...lossy] : acceptedTransferSyntaxes;
}

/** Our implementation identity (a fixed UUID-derived UID, PS3.5 B.2) in associations and file meta. */
export const implementationClassUid = '2.25.279395224276889865818595551434573428896';
export const implementationVersionName = 'ICH_TRIAGE_01';
