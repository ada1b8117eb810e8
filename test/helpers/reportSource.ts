// Source instances and series results for the report builders' tests, and the dicom3tools /
// dcmtk checks run on what they build.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import dcmjs from '../../src/dicom/dcmjs.js';
import { newUid } from '../../src/reports/uids.js';
import type { KeySlice, SeriesResult } from '../../src/series/result.js';

export const CtImageStorage = '1.2.840.10008.5.1.4.1.1.2';

const testUid = () => newUid('');

export interface SourceAttributes {
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  patientName: string;
  patientId: string;
  patientBirthDate: string;
  patientSex: string;
  studyDate: string;
  studyTime: string;
  accessionNumber: string;
  referringPhysicianName: string;
  studyId: string;
  studyDescription: string;
  institutionName: string;
}

export function sourceAttributes(overrides: Partial<SourceAttributes> = {}): SourceAttributes {
  return {
    studyUid: testUid(),
    seriesUid: testUid(),
    sopInstanceUid: testUid(),
    patientName: 'Doe^Jane^Q',
    patientId: 'PID-12345',
    patientBirthDate: '19560704',
    patientSex: 'F',
    studyDate: '20240131',
    studyTime: '140512.25',
    accessionNumber: 'ACC-987',
    referringPhysicianName: 'House^Gregory',
    studyId: 'ST42',
    studyDescription: 'CT HEAD WO',
    institutionName: 'General Hospital',
    ...overrides,
  };
}

/** A 4x4 CT slice as a Part 10 file (Explicit VR LE), with the patient and study attributes given. */
export function sourceFile(a: SourceAttributes): Buffer {
  const natural = {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: CtImageStorage,
    SOPInstanceUID: a.sopInstanceUid,
    StudyDate: a.studyDate,
    StudyTime: a.studyTime,
    AccessionNumber: a.accessionNumber,
    Modality: 'CT',
    Manufacturer: 'ScannerCo',
    InstitutionName: a.institutionName,
    ReferringPhysicianName: [{ Alphabetic: a.referringPhysicianName }],
    StudyDescription: a.studyDescription,
    PatientName: [{ Alphabetic: a.patientName }],
    PatientID: a.patientId,
    PatientBirthDate: a.patientBirthDate,
    PatientSex: a.patientSex,
    StudyInstanceUID: a.studyUid,
    SeriesInstanceUID: a.seriesUid,
    StudyID: a.studyId,
    SeriesNumber: 3,
    InstanceNumber: 1,
    ImagePositionPatient: [0, 0, 0],
    ImageOrientationPatient: [1, 0, 0, 0, 1, 0],
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: 4,
    Columns: 4,
    BitsAllocated: 16,
    BitsStored: 16,
    HighBit: 15,
    PixelRepresentation: 1,
    RescaleIntercept: -1024,
    RescaleSlope: 1,
    PixelData: [new Int16Array(16).fill(1064).buffer],
    _vrMap: { PixelData: 'OW' },
  };
  const meta = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: CtImageStorage,
    MediaStorageSOPInstanceUID: a.sopInstanceUid,
    TransferSyntaxUID: '1.2.840.10008.1.2.1',
    ImplementationClassUID: '2.25.1',
  });
  const file = new dcmjs.data.DicomDict(meta);
  file.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(natural);
  return Buffer.from(file.write());
}

export const testSha256 = 'ab'.repeat(32);

export function keySlice(sopInstanceUid: string, instanceNumber: number, probability: number): KeySlice {
  return { sopInstanceUid, sopClassUid: CtImageStorage, instanceNumber, z: instanceNumber * 5, index: instanceNumber, probability };
}

/** An urgent result: subdural and "any" above threshold, with key slices in the source series. */
export function urgentResult(a: SourceAttributes, overrides: Partial<SeriesResult> = {}): SeriesResult {
  const s12 = keySlice(testUid(), 12, 0.91);
  const s13 = keySlice(testUid(), 13, 0.87);
  return {
    seriesUid: a.seriesUid,
    studyUid: a.studyUid,
    revision: 0,
    decision: 'urgent',
    classes: ['any', 'epidural', 'intraparenchymal', 'intraventricular', 'subarachnoid', 'subdural'],
    scores: { any: 0.934, epidural: 0.012, intraparenchymal: 0.081, intraventricular: 0.0042, subarachnoid: 0.27, subdural: 0.912345678 },
    thresholds: { any: 0.5, epidural: 0.35, intraparenchymal: 0.5, intraventricular: 0.5, subarachnoid: 0.45, subdural: 0.4 },
    flagged: ['any', 'subdural'],
    keySlices: { any: [{ ...s12, probability: 0.934 }, { ...s13, probability: 0.9 }], subdural: [s12, s13] },
    sliceCount: 40,
    failedSlices: 1,
    smoothing: [1, 2, 1],
    model: { name: 'ich-resnet18', version: '1.2.0', architecture: 'resnet18', intendedUse: 'triage', sha256: testSha256, demo: false },
    timings: { firstReceivedAt: 1_706_700_000_000, lastReceivedAt: 1_706_700_030_000, decidedAt: 1_706_700_041_500, preprocessMs: 800, inferenceMs: 2400 },
    ...overrides,
  };
}

export function negativeResult(a: SourceAttributes): SeriesResult {
  return urgentResult(a, {
    decision: 'negative',
    scores: { any: 0.08, epidural: 0.01, intraparenchymal: 0.02, intraventricular: 0.01, subarachnoid: 0.05, subdural: 0.03 },
    flagged: [],
    keySlices: {},
  });
}

/** Runs a checker on `file` written to a temporary path; returns exit status and both streams. */
function runOnFile(command: string, args: string[], file: Buffer): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'ich-reports-'));
  try {
    const p = path.join(dir, 'object.dcm');
    writeFileSync(p, file);
    const r = spawnSync(command, [...args, p], { encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** dciodvfy (dicom3tools) prints to stderr and exits 1 on errors. */
export function dciodvfy(file: Buffer) {
  return runOnFile('dciodvfy', [], file);
}

/**
 * dsrdump (dcmtk) renders the content tree with long values, referenced instance UIDs, all
 * codes and template ids; it checks relationship constraints and logs W:/E: lines on stderr.
 * It refuses invalid UID values unless given -Dv (no VR checks).
 */
export function dsrdump(file: Buffer, ...extraArgs: string[]) {
  return runOnFile('dsrdump', ['+Pl', '+Pu', '+Psu', '+Pc', '+Pt', ...extraArgs], file);
}

/** dcmdump (dcmtk) shows the header attributes one per line. */
export function dcmdump(file: Buffer) {
  return runOnFile('dcmdump', ['+U8'], file);
}
