import { constants as zlibConstants, inflateRawSync } from 'node:zlib';
import dcmjs from './dcmjs.js';
import { scanElements, pixelDataTag } from './elementScan.js';
import { readFileMeta } from './part10.js';
import { TransferSyntax } from './uids.js';

/** The attributes the node needs from an instance, read without its pixel data. */
export interface InstanceHeader {
  sopClassUid?: string;
  sopInstanceUid?: string;
  seriesUid?: string;
  studyUid?: string;
  modality?: string;
  instanceNumber?: number;
  imagePositionPatient?: number[];
  imageOrientationPatient?: number[];
  imageType: string[];
  seriesDescription?: string;
  contrastBolusAgent?: string;
  accessionNumber?: string;
  imagesInAcquisition?: number;
  numberOfFrames?: number;
}

export interface ParsedHeader {
  header: InstanceHeader;
  transferSyntaxUid?: string;
  /** From the file meta: the SOP class of files whose data set lacks one (RSNA). */
  mediaStorageSopClassUid?: string;
  /** Every attribute read here was found or is absent: a longer prefix would add nothing. */
  complete: boolean;
}

/**
 * Most bytes a deflated data set may inflate to while its header is read. dcmjs inflates a
 * whole data set without a bound: a few MiB of deflated zeros sent as a C-STORE became GiBs.
 */
export const maxInflatedHeaderBytes = 64 * 1024 * 1024;

const Tag = {
  ImageType: 0x00080008,
  SOPClassUID: 0x00080016,
  SOPInstanceUID: 0x00080018,
  AccessionNumber: 0x00080050,
  Modality: 0x00080060,
  SeriesDescription: 0x0008103e,
  ContrastBolusAgent: 0x00180010,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
  InstanceNumber: 0x00200013,
  ImagePositionPatient: 0x00200032,
  ImageOrientationPatient: 0x00200037,
  ImagesInAcquisition: 0x00201002,
  NumberOfFrames: 0x00280008,
} as const;
const wanted = new Set<number>(Object.values(Tag));

/**
 * Parses a Part 10 file's header up to (not including) the pixel data. Works on a prefix of
 * the file too: `complete` says whether it was long enough. Throws on malformed input
 * (TruncatedError when the prefix ends inside an element).
 */
export function readHeader(file: Buffer): ParsedHeader {
  const meta = readFileMeta(file);
  const ts = meta.transferSyntaxUid;
  if (!ts) throw new Error('file meta has no TransferSyntaxUID');
  const mediaStorageSopClassUid = meta.sopClassUid;
  if (ts === TransferSyntax.ExplicitVRBigEndian) return { ...readWithDcmjs(file, ts), mediaStorageSopClassUid };
  return { ...readDataSetHeader(file.subarray(meta.dataSetOffset), ts), mediaStorageSopClassUid };
}

/**
 * The same for a data set (or its first bytes) as a C-STORE carries it, in a little endian
 * transfer syntax (the only ones the SCP accepts): what the SCP reads while an instance streams in.
 */
export function readDataSetHeader(dataSet: Buffer, transferSyntaxUid: string): ParsedHeader {
  if (transferSyntaxUid === TransferSyntax.ExplicitVRBigEndian) throw new Error('a big endian data set is read from its file');
  const inflated = transferSyntaxUid === TransferSyntax.DeflatedExplicitVRLittleEndian ? inflateHeader(dataSet) : dataSet;
  const scan = scanElements(inflated, 0, transferSyntaxUid !== TransferSyntax.ImplicitVRLittleEndian, wanted);
  return { transferSyntaxUid, complete: scan.complete, header: toHeader((tag) => scan.values.get(tag)) };
}

/**
 * Inflates what there is of a deflated data set (a prefix inflates to a prefix), up to
 * maxInflatedHeaderBytes.
 */
function inflateHeader(deflated: Buffer): Buffer {
  try {
    return inflateRawSync(deflated, { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: maxInflatedHeaderBytes });
  } catch (err) {
    throw new Error(`the deflated data set cannot be inflated within ${maxInflatedHeaderBytes} bytes: ${(err as Error).message}`, { cause: err });
  }
}

/** Big endian data sets (retired; read by `classify`, never accepted by the SCP): dcmjs reads the whole file. */
function readWithDcmjs(file: Buffer, ts: string): ParsedHeader {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  const d = dcmjs.data.DicomMessage.readFile(ab, { untilTag: '7FE00010', ignoreErrors: false, includeUntilTagValue: false }).dict;
  const hex = (tag: number) => tag.toString(16).toUpperCase().padStart(8, '0');
  return {
    transferSyntaxUid: ts,
    complete: hex(pixelDataTag) in d,
    header: toHeader((tag) => d[hex(tag)]?.Value?.map((x) => String(x).trim())),
  };
}

function toHeader(values: (tag: number) => string[] | undefined): InstanceHeader {
  const one = (tag: number) => nonEmpty(values(tag)?.[0]);
  return {
    sopClassUid: one(Tag.SOPClassUID),
    sopInstanceUid: one(Tag.SOPInstanceUID),
    seriesUid: one(Tag.SeriesInstanceUID),
    studyUid: one(Tag.StudyInstanceUID),
    modality: one(Tag.Modality),
    instanceNumber: toNumber(one(Tag.InstanceNumber)),
    imagePositionPatient: toNumbers(values(Tag.ImagePositionPatient)),
    imageOrientationPatient: toNumbers(values(Tag.ImageOrientationPatient)),
    imageType: (values(Tag.ImageType) ?? []).filter((s) => s !== ''),
    seriesDescription: one(Tag.SeriesDescription),
    contrastBolusAgent: one(Tag.ContrastBolusAgent),
    accessionNumber: one(Tag.AccessionNumber),
    imagesInAcquisition: toNumber(one(Tag.ImagesInAcquisition)),
    numberOfFrames: toNumber(one(Tag.NumberOfFrames)),
  };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

function toNumber(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

function toNumbers(values: string[] | undefined): number[] | undefined {
  if (!values || values.length === 0) return undefined;
  const out = values.map(Number);
  return out.every(Number.isFinite) ? out : undefined;
}
