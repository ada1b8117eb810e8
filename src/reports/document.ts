/**
 * The header every SR-family object we write shares (SR Document Series or Key Object Document
 * Series, General Equipment, SR Document General / Key Object Document, SR Document Content,
 * SOP Common) around a content tree, written as a Part 10 file in Explicit VR Little Endian.
 */
import dcmjs from '../dicom/dcmjs.js';
import { implementationClassUid, implementationVersionName, TransferSyntax } from '../dicom/uids.js';
import type { ModelInfo } from '../series/result.js';
import { Code, type CodedConcept } from './codes.js';
import { code, codeSequence, type ContentItem, type InstanceRef } from './contentItems.js';
import { contributingEquipment, deviceIdentity, deviceObserverContext, manufacturer, type DeviceIdentity } from './device.js';
import type { ReportSource } from './source.js';
import { newUid } from './uids.js';

/** What the caller configures; the same for SR and KOS. */
export interface ReportOptions {
  /** reports.uidRoot: '' for 2.25 UUID-derived UIDs. */
  uidRoot: string;
  /** ich-triage's own version, recorded in Software Versions. */
  softwareVersion: string;
  /** reports.institutionName; '' keeps the source's InstitutionName. */
  institutionName?: string;
  /** Content date and time (local time); defaults to now. */
  now?: Date;
}

export interface DocumentParts {
  sopClassUid: string;
  modality: 'SR' | 'KO';
  seriesNumber: number;
  seriesDescription: string;
  title: CodedConcept;
  templateIdentifier: string;
  content: ContentItem[];
  /** The series evaluated and the instances the content references, for the evidence sequence. */
  evidence: { studyUid: string; seriesUid: string; instances: InstanceRef[] };
  /** IOD-specific header attributes (e.g. SR completion and verification flags). */
  header: Record<string, unknown>;
}

/** Context the content builders need before the document is assembled. */
export interface DocumentContext {
  device: DeviceIdentity;
  uidRoot: string;
  now: Date;
}

export function documentContext(model: ModelInfo, options: ReportOptions): DocumentContext {
  return { device: deviceIdentity(model, options.uidRoot, options.softwareVersion), uidRoot: options.uidRoot, now: options.now ?? new Date() };
}

/** What both templates open with: the language (TID 1204) and the device observer (TID 1002). */
export function contextItems(ctx: DocumentContext): ContentItem[] {
  return [code('HAS CONCEPT MOD', Code.languageOfContent, Code.englishUs), ...deviceObserverContext(ctx.device)];
}

export function writeDocument(source: ReportSource, parts: DocumentParts, model: ModelInfo, ctx: DocumentContext, options: ReportOptions): Buffer {
  const { studyInstanceUid, seriesInstanceUid, sopClassUid, sopInstanceUid: sourceInstanceUid } = source.fields;
  if (studyInstanceUid !== parts.evidence.studyUid || seriesInstanceUid !== parts.evidence.seriesUid) {
    throw new Error(`source instance belongs to series ${seriesInstanceUid} of study ${studyInstanceUid}, the result to series ${parts.evidence.seriesUid} of study ${parts.evidence.studyUid}`);
  }
  // The source instance is evidence too: a negative result references no key slice, and the
  // evidence still says which series was evaluated.
  const sourceRef = sopClassUid && sourceInstanceUid ? [{ sopClassUid, sopInstanceUid: sourceInstanceUid }] : [];
  const sopInstanceUid = newUid(ctx.uidRoot);
  const date = dicomDate(ctx.now);
  const time = dicomTime(ctx.now);
  const institution = options.institutionName || source.fields.institutionName;
  const natural: Record<string, unknown> = {
    SOPClassUID: parts.sopClassUid,
    SOPInstanceUID: sopInstanceUid,
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    Modality: parts.modality,
    SeriesInstanceUID: newUid(ctx.uidRoot),
    SeriesNumber: parts.seriesNumber,
    SeriesDate: date,
    SeriesTime: time,
    SeriesDescription: parts.seriesDescription,
    ReferencedPerformedProcedureStepSequence: [],
    Manufacturer: manufacturer,
    ManufacturerModelName: ctx.device.modelName,
    SoftwareVersions: ctx.device.softwareVersions,
    ...(institution ? { InstitutionName: institution } : {}),
    InstanceNumber: 1,
    ContentDate: date,
    ContentTime: time,
    ...parts.header,
    CurrentRequestedProcedureEvidenceSequence: evidenceSequence({ ...parts.evidence, instances: [...parts.evidence.instances, ...sourceRef] }),
    ContributingEquipmentSequence: [contributingEquipment(ctx.device, model, `${date}${time}`)],
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: codeSequence(parts.title),
    ContinuityOfContent: 'SEPARATE',
    ContentTemplateSequence: [{ MappingResource: 'DCMR', TemplateIdentifier: parts.templateIdentifier }],
    ContentSequence: parts.content,
  };
  // dcmjs encodes all text as UTF-8 (source text included, decoded from its own character
  // set); plain ASCII needs no declaration, which the oldest readers handle best.
  if (hasNonAscii(natural) || hasNonAscii(source.copied)) natural.SpecificCharacterSet = 'ISO_IR 192';
  const meta = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: parts.sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: TransferSyntax.ExplicitVRLittleEndian,
    ImplementationClassUID: implementationClassUid,
    ImplementationVersionName: implementationVersionName,
  });
  const file = new dcmjs.data.DicomDict(meta);
  file.dict = { ...dcmjs.data.DicomMetaDictionary.denaturalizeDataset(natural), ...source.copied };
  return Buffer.from(file.write());
}

/** One study, one series: every instance we reference comes from the series we classified. */
function evidenceSequence(evidence: DocumentParts['evidence']): Record<string, unknown>[] {
  const unique = [...new Map(evidence.instances.map((i) => [i.sopInstanceUid, i])).values()];
  return [
    {
      StudyInstanceUID: evidence.studyUid,
      ReferencedSeriesSequence: [
        {
          SeriesInstanceUID: evidence.seriesUid,
          ReferencedSOPSequence: unique.map((i) => ({ ReferencedSOPClassUID: i.sopClassUid, ReferencedSOPInstanceUID: i.sopInstanceUid })),
        },
      ],
    },
  ];
}

function hasNonAscii(value: unknown): boolean {
  if (typeof value === 'string') return /[^\x00-\x7f]/.test(value);
  if (Array.isArray(value)) return value.some(hasNonAscii);
  if (value !== null && typeof value === 'object' && !(value instanceof ArrayBuffer)) return Object.values(value).some(hasNonAscii);
  return false;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

function dicomDate(d: Date): string {
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}`;
}

function dicomTime(d: Date): string {
  return `${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}
