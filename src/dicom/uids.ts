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

/**
 * The transfer syntaxes the SCP accepts, in order of preference: the lossless compressed ones
 * we decode (smaller on the wire and on disk, same pixels), then uncompressed, then lossy ones
 * only when a sender offers nothing else.
 */
export const acceptedTransferSyntaxes: readonly string[] = [
  TransferSyntax.JpegLsLossless,
  TransferSyntax.HtJpeg2000Lossless,
  TransferSyntax.HtJpeg2000LosslessRpcl,
  TransferSyntax.Jpeg2000Lossless,
  TransferSyntax.JpegLosslessSV1,
  TransferSyntax.JpegLosslessP14,
  TransferSyntax.RleLossless,
  TransferSyntax.DeflatedExplicitVRLittleEndian,
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.JpegLsNearLossless,
  TransferSyntax.Jpeg2000,
  TransferSyntax.HtJpeg2000,
];

/** Our implementation identity (a fixed UUID-derived UID, PS3.5 B.2) in associations and file meta. */
export const implementationClassUid = '2.25.279395224276889865818595551434573428896';
export const implementationVersionName = 'ICH_TRIAGE_01';
