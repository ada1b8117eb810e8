/**
 * What the reports take from a source instance of the series: the Patient, General Study and
 * Patient Study attributes, element by element as sent, so the PACS files our objects into the
 * source study under the same patient.
 */
import dcmjs from '../dicom/dcmjs.js';
import type { DicomDictElements } from 'dcmjs';

/** Tag, VR and whether the module makes it Type 2 (present, possibly empty). */
const copiedAttributes: readonly (readonly [tag: string, vr: string, type2: boolean])[] = [
  // Patient module (PS3.3 C.7.1.1)
  ['00100010', 'PN', true], // PatientName
  ['00100020', 'LO', true], // PatientID
  ['00100021', 'LO', false], // IssuerOfPatientID
  ['00100024', 'SQ', false], // IssuerOfPatientIDQualifiersSequence
  ['00100030', 'DA', true], // PatientBirthDate
  ['00100032', 'TM', false], // PatientBirthTime
  ['00100040', 'CS', true], // PatientSex
  ['00101002', 'SQ', false], // OtherPatientIDsSequence
  ['00120062', 'CS', false], // PatientIdentityRemoved
  ['00120063', 'LO', false], // DeidentificationMethod
  // General Study module (C.7.2.1)
  ['0020000D', 'UI', true], // StudyInstanceUID (Type 1, checked below)
  ['00080020', 'DA', true], // StudyDate
  ['00080030', 'TM', true], // StudyTime
  ['00080090', 'PN', true], // ReferringPhysicianName
  ['00200010', 'SH', true], // StudyID
  ['00080050', 'SH', true], // AccessionNumber
  ['00080051', 'SQ', false], // IssuerOfAccessionNumberSequence
  ['00081030', 'LO', false], // StudyDescription
  ['00081032', 'SQ', false], // ProcedureCodeSequence
  // Patient Study module (C.7.2.2)
  ['00101010', 'AS', false], // PatientAge
  ['00101020', 'DS', false], // PatientSize
  ['00101030', 'DS', false], // PatientWeight
];

/** The source attributes emails and callers need as plain strings ('' when absent). */
export interface ReportSourceFields {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  /** From the data set, or the file meta where the data set lacks it (RSNA files). */
  sopClassUid: string;
  sopInstanceUid: string;
  accessionNumber: string;
  /** DICOM DA (YYYYMMDD) and TM (HHMMSS.frac) as sent. */
  studyDate: string;
  studyTime: string;
  studyDescription: string;
  /** PN in its DICOM form (Family^Given^...). */
  patientName: string;
  patientId: string;
  patientBirthDate: string;
  institutionName: string;
}

export interface ReportSource {
  /** Denaturalized elements to place in our data set unchanged. */
  copied: DicomDictElements;
  fields: ReportSourceFields;
}

const tag = {
  studyInstanceUid: '0020000D',
  seriesInstanceUid: '0020000E',
  sopClassUid: '00080016',
  sopInstanceUid: '00080018',
  accessionNumber: '00080050',
  studyDate: '00080020',
  studyTime: '00080030',
  studyDescription: '00081030',
  patientName: '00100010',
  patientId: '00100020',
  patientBirthDate: '00100030',
  institutionName: '00080080',
} as const;

/** Reads a source Part 10 file up to its pixel data. Throws when it has no StudyInstanceUID. */
export function readReportSource(file: Buffer): ReportSource {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  const parsed = dcmjs.data.DicomMessage.readFile(ab, { untilTag: '7FE00010', includeUntilTagValue: false, ignoreErrors: true });
  const dict = parsed.dict;
  const copied: DicomDictElements = {};
  for (const [t, vr, type2] of copiedAttributes) {
    const element = dict[t];
    if (element) copied[t] = element;
    else if (type2) copied[t] = { vr, Value: [] };
  }
  const fields = Object.fromEntries(Object.entries(tag).map(([name, t]) => [name, firstString(dict[t]?.Value)])) as unknown as ReportSourceFields;
  fields.sopClassUid ||= firstString(parsed.meta['00020002']?.Value);
  fields.sopInstanceUid ||= firstString(parsed.meta['00020003']?.Value);
  if (fields.studyInstanceUid === '') throw new Error('source instance has no StudyInstanceUID: cannot file a report into its study');
  return { copied, fields };
}

/** PN values arrive as { Alphabetic } objects; everything else copied here is a string. */
function firstString(values: unknown[] | undefined): string {
  const v = values?.[0];
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return String((v as { Alphabetic?: string }).Alphabetic ?? '');
  return String(v);
}
