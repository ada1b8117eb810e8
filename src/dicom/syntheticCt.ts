// Synthetic head CT slices and series as DICOM Part 10 files (dcmjs), for tests and for benchmarks run without real data.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import dcmjs from 'dcmjs';
import { readFileMeta } from './part10.js';

export const CtImageStorage = '1.2.840.10008.5.1.4.1.1.2';
export const SecondaryCaptureStorage = '1.2.840.10008.5.1.4.1.1.7';
export const ExplicitVRLittleEndian = '1.2.840.10008.1.2.1';
export const ImplicitVRLittleEndian = '1.2.840.10008.1.2';

/** A valid UUID-derived UID (PS3.5 B.2). */
export function newUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString()}`;
}

export interface Bleed {
  /** Centre, as fractions of the image width and height. */
  x: number;
  y: number;
  /** Radius as a fraction of the image width. */
  radius: number;
  /** 60-80 HU for fresh blood. */
  hu: number;
}

export interface SliceOptions {
  rows?: number;
  columns?: number;
  /** 'int16': BitsStored 16, signed; 'uint12': BitsStored 12, unsigned (like many RSNA files). */
  encoding?: 'int16' | 'uint12';
  slope?: number;
  /** Default -1024. */
  intercept?: number;
  transferSyntax?: typeof ExplicitVRLittleEndian | typeof ImplicitVRLittleEndian;
  sopClassUid?: string;
  sopInstanceUid?: string;
  seriesUid?: string;
  studyUid?: string;
  instanceNumber?: number;
  imagePositionPatient?: [number, number, number];
  imageOrientationPatient?: [number, number, number, number, number, number];
  patientName?: string;
  patientId?: string;
  patientBirthDate?: string;
  modality?: string;
  seriesDescription?: string;
  bleed?: Bleed;
  frameOfReferenceUid?: string;
  /** Default 'ISO_IR 100'; dcmjs re-encodes every data set it sends as 'ISO_IR 192'. */
  specificCharacterSet?: string;
  /** Text of this many characters before the pixel data (ImageComments, AdditionalPatientHistory), for long headers. */
  headerPadding?: number;
  /** Leave StudyInstanceUID out (for refusal tests). */
  omitStudyUid?: boolean;
}

export interface Slice {
  sopInstanceUid: string;
  sopClassUid: string;
  seriesUid: string;
  studyUid: string;
  transferSyntax: string;
  instanceNumber: number;
  imagePositionPatient: [number, number, number];
  /** The whole Part 10 file. */
  file: Buffer;
  /** The data set after the file meta, as it travels in a C-STORE. */
  dataSet: Buffer;
}

/**
 * Head-like content in HU: air outside an ellipse of skull (~1000 HU) around brain (~35 HU),
 * plus an optional round bleed.
 */
export function headHu(rows: number, columns: number, bleed?: Bleed): Float32Array {
  const hu = new Float32Array(rows * columns);
  const cx = columns / 2;
  const cy = rows / 2;
  const ax = columns * 0.42;
  const ay = rows * 0.46;
  const skull = 0.08;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      const r = Math.hypot((x - cx) / ax, (y - cy) / ay);
      let v = r > 1 ? -1000 : r > 1 - skull ? 1000 : 35;
      if (bleed && r <= 1 - skull && Math.hypot(x - bleed.x * columns, y - bleed.y * rows) <= bleed.radius * columns) v = bleed.hu;
      hu[y * columns + x] = v;
    }
  }
  return hu;
}

/** One CT slice as a Part 10 file in memory. */
export function syntheticSlice(o: SliceOptions = {}): Slice {
  const rows = o.rows ?? 64;
  const columns = o.columns ?? 64;
  const encoding = o.encoding ?? 'int16';
  const slope = o.slope ?? 1;
  const intercept = o.intercept ?? -1024;
  const ts = o.transferSyntax ?? ExplicitVRLittleEndian;
  const sopClassUid = o.sopClassUid ?? CtImageStorage;
  const sopInstanceUid = o.sopInstanceUid ?? newUid();
  const seriesUid = o.seriesUid ?? newUid();
  const studyUid = o.studyUid ?? newUid();
  const instanceNumber = o.instanceNumber ?? 1;
  const ipp = o.imagePositionPatient ?? [-(columns / 2) * 0.5, -(rows / 2) * 0.5, 0];
  const iop = o.imageOrientationPatient ?? [1, 0, 0, 0, 1, 0];

  const hu = headHu(rows, columns, o.bleed);
  const pixels = encoding === 'int16' ? new Int16Array(hu.length) : new Uint16Array(hu.length);
  const max = encoding === 'int16' ? 32767 : 4095;
  const min = encoding === 'int16' ? -32768 : 0;
  for (let i = 0; i < hu.length; i++) pixels[i] = Math.max(min, Math.min(max, Math.round((hu[i]! - intercept) / slope)));

  const dataset: Record<string, unknown> = {
    SpecificCharacterSet: o.specificCharacterSet ?? 'ISO_IR 100',
    ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
    SOPClassUID: sopClassUid,
    SOPInstanceUID: sopInstanceUid,
    Modality: o.modality ?? 'CT',
    SeriesDescription: o.seriesDescription ?? 'synthetic head',
    PatientName: o.patientName ?? '',
    PatientID: o.patientId ?? '',
    PatientBirthDate: o.patientBirthDate ?? '',
    PatientSex: '',
    StudyDate: '20240101',
    StudyTime: '120000',
    ReferringPhysicianName: '',
    StudyID: '1',
    AccessionNumber: '',
    SeriesNumber: 1,
    PatientPosition: 'HFS',
    FrameOfReferenceUID: o.frameOfReferenceUid ?? newUid(),
    ...(o.omitStudyUid ? {} : { StudyInstanceUID: studyUid }),
    SeriesInstanceUID: seriesUid,
    InstanceNumber: instanceNumber,
    ImagePositionPatient: ipp,
    ImageOrientationPatient: iop,
    ...(o.headerPadding ? longText(o.headerPadding) : {}),
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: rows,
    Columns: columns,
    PixelSpacing: [0.5, 0.5],
    BitsAllocated: 16,
    BitsStored: encoding === 'int16' ? 16 : 12,
    HighBit: encoding === 'int16' ? 15 : 11,
    PixelRepresentation: encoding === 'int16' ? 1 : 0,
    WindowCenter: 40,
    WindowWidth: 80,
    RescaleIntercept: intercept,
    RescaleSlope: slope,
    PixelData: [pixels.buffer],
    // dcmjs cannot tell OB from OW for binary values; the pixel data is 16-bit.
    _vrMap: { PixelData: 'OW' },
  };
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: ts,
    ImplementationClassUID: '2.25.1',
  };
  const { denaturalizeDataset } = dcmjs.data.DicomMetaDictionary;
  const dict = new dcmjs.data.DicomDict(denaturalizeDataset(meta));
  dict.dict = denaturalizeDataset(dataset);
  const file = Buffer.from(dict.write());
  return { sopInstanceUid, sopClassUid, seriesUid, studyUid, transferSyntax: ts, instanceNumber, imagePositionPatient: ipp, file, dataSet: dataSetOf(file) };
}

/** Two LT elements (10240 characters each at most) holding `length` characters in all. */
function longText(length: number): Record<string, string> {
  const half = Math.min(10240, Math.ceil(length / 2));
  return { AdditionalPatientHistory: 'h'.repeat(half), ImageComments: 'c'.repeat(Math.min(10240, length - half)) };
}

/** The data set of a Part 10 file: what follows the preamble, "DICM" and the file meta group. */
export function dataSetOf(file: Buffer): Buffer {
  return file.subarray(readFileMeta(file).dataSetOffset);
}

export interface SeriesOptions extends Omit<SliceOptions, 'sopInstanceUid' | 'instanceNumber' | 'imagePositionPatient'> {
  slices: number;
  /** Slice spacing in mm along z (default 5). */
  spacing?: number;
  /** Index of slices that carry `bleed` (default: all when bleed is given). */
  bleedSlices?: (index: number) => boolean;
}

/** A series of axial slices, z ascending from 0 by `spacing`. */
export function syntheticSeries(o: SeriesOptions): Slice[] {
  const seriesUid = o.seriesUid ?? newUid();
  const studyUid = o.studyUid ?? newUid();
  const frameOfReferenceUid = o.frameOfReferenceUid ?? newUid();
  const spacing = o.spacing ?? 5;
  const columns = o.columns ?? 64;
  const rows = o.rows ?? 64;
  return Array.from({ length: o.slices }, (_, i) =>
    syntheticSlice({
      ...o,
      seriesUid,
      studyUid,
      frameOfReferenceUid,
      instanceNumber: i + 1,
      imagePositionPatient: [-(columns / 2) * 0.5, -(rows / 2) * 0.5, i * spacing],
      bleed: o.bleed && (o.bleedSlices?.(i) ?? true) ? o.bleed : undefined,
    }),
  );
}

/** Writes slices as `<dir>/<prefix><nnnn>.dcm`; returns the paths in order. */
export function writeSlices(dir: string, slices: readonly Slice[], prefix = 'slice'): string[] {
  mkdirSync(dir, { recursive: true });
  return slices.map((s, i) => {
    const file = path.join(dir, `${prefix}${String(i).padStart(4, '0')}.dcm`);
    writeFileSync(file, s.file);
    return file;
  });
}
