/**
 * The Structured Report for one decided series: Comprehensive SR shaped after TID 1500
 * (Measurement Report) as IHE AI Results uses it. Content tree in docs/conformance.md.
 */
import { SopClass } from '../dicom/uids.js';
import type { KeySlice, SeriesResult } from '../series/result.js';
import { classLabel, Code, findingCode } from './codes.js';
import { code, container, image, num, text, uidRef, type ContentItem, type InstanceRef } from './contentItems.js';
import { contextItems, documentContext, writeDocument, type DocumentContext, type ReportOptions } from './document.js';
import { readReportSource } from './source.js';
import { newUid } from './uids.js';
import { disclaimer, seriesDescription } from './wording.js';

/** Our SR series, numbered apart from the scanner's series. */
export const srSeriesNumber = 9901;

/** A Part 10 file (Explicit VR LE) of the SR for `result`, filed into the study of `source`. */
export function buildSr(result: SeriesResult, source: Buffer, options: ReportOptions): Buffer {
  const ctx = documentContext(result.model, options);
  const keySlices = uniqueKeySlices(result);
  return writeDocument(
    readReportSource(source),
    {
      sopClassUid: SopClass.ComprehensiveSr,
      modality: 'SR',
      seriesNumber: srSeriesNumber,
      seriesDescription: seriesDescription('report', result.model),
      title: Code.imagingMeasurementReport,
      templateIdentifier: '1500',
      content: [
        ...contextItems(ctx),
        code('HAS CONCEPT MOD', Code.procedureReported, Code.ctHeadWithoutContrast),
        ...(keySlices.length > 0 ? [imageLibrary(keySlices)] : []),
        container('CONTAINS', Code.imagingMeasurements, result.classes.map((c) => measurementGroup(result, c, ctx))),
        container('CONTAINS', Code.qualitativeEvaluations, qualitativeEvaluations(result)),
      ],
      evidence: { studyUid: result.studyUid, seriesUid: result.seriesUid, instances: keySlices },
      header: { CompletionFlag: 'COMPLETE', VerificationFlag: 'UNVERIFIED', PerformedProcedureCodeSequence: [] },
    },
    result.model,
    ctx,
    options,
  );
}

/** TID 1600: every key slice once, in the order the classes list them. */
function imageLibrary(slices: InstanceRef[]): ContentItem {
  return container('CONTAINS', Code.imageLibrary, [container('CONTAINS', Code.imageLibraryGroup, slices.map((s) => image('CONTAINS', s)))]);
}

/**
 * TID 1501 for one class: its finding, the algorithm, the probability (inferred from the key
 * slices that reached it) against the threshold in force, and present/absent.
 */
function measurementGroup(result: SeriesResult, className: string, ctx: DocumentContext): ContentItem {
  const finding = findingCode(className);
  const present = result.flagged.includes(className);
  const slices = result.keySlices[className] ?? [];
  const qualitative = finding
    ? code('CONTAINS', finding, present ? Code.present : Code.absent)
    : text('CONTAINS', Code.finding, `${classLabel(className)}: ${present ? 'present' : 'absent'}`);
  return container('CONTAINS', Code.measurementGroup, [
    text('HAS OBS CONTEXT', Code.trackingIdentifier, `ICH triage ${className}`),
    uidRef('HAS OBS CONTEXT', Code.trackingUniqueIdentifier, newUid(ctx.uidRoot)),
    ...(finding ? [code('CONTAINS', Code.finding, finding)] : []),
    text('HAS CONCEPT MOD', Code.algorithmName, result.model.name),
    text('HAS CONCEPT MOD', Code.algorithmVersion, result.model.version),
    text('HAS CONCEPT MOD', Code.algorithmParameters, algorithmParameters(result)),
    num('CONTAINS', Code.probability, score(result, className), Code.noUnits, slices.map((s) => image('INFERRED FROM', s))),
    num('CONTAINS', Code.thresholdValue, threshold(result, className), Code.noUnits),
    qualitative,
  ]);
}

function qualitativeEvaluations(result: SeriesResult): ContentItem[] {
  const urgent = result.decision === 'urgent';
  const conclusion = urgent
    ? `URGENT: suspected intracranial hemorrhage (AI triage). Above threshold: ${result.flagged.join(', ')}.`
    : 'No intracranial hemorrhage above the operating thresholds (AI triage).';
  return [
    code('CONTAINS', Code.intracranialHemorrhage, urgent ? Code.present : Code.absent),
    text('CONTAINS', Code.conclusion, conclusion),
    text('CONTAINS', Code.comment, disclaimer(result.model)),
    text('CONTAINS', Code.comment, `Slices classified: ${result.sliceCount}; not classifiable: ${result.failedSlices}. Report revision ${result.revision}.`),
  ];
}

function algorithmParameters(result: SeriesResult): string {
  const kernel = result.smoothing === 'none' ? 'none' : `[${result.smoothing.join(', ')}]`;
  return `series score: maximum over slices of the z-smoothed probability; smoothing kernel ${kernel}`;
}

function score(result: SeriesResult, className: string): number {
  return required(result.scores[className], `score of class ${className}`);
}

function threshold(result: SeriesResult, className: string): number {
  return required(result.thresholds[className], `threshold of class ${className}`);
}

function required(value: number | undefined, what: string): number {
  if (value === undefined) throw new Error(`series result has no ${what}`);
  return value;
}

function uniqueKeySlices(result: SeriesResult): KeySlice[] {
  const all = result.classes.flatMap((c) => result.keySlices[c] ?? []);
  return [...new Map(all.map((s) => [s.sopInstanceUid, s])).values()];
}
