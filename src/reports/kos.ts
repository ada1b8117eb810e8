/**
 * The "flag" for an urgent series: a Key Object Selection Document (TID 2010) titled
 * (113000, DCM, "Of Interest") that selects the key slices, for PACS routing rules and
 * worklists to act on.
 */
import { SopClass } from '../dicom/uids.js';
import type { SeriesResult } from '../series/result.js';
import { Code } from './codes.js';
import { image, text } from './contentItems.js';
import { contextItems, documentContext, writeDocument, type ReportOptions } from './document.js';
import { readReportSource } from './source.js';
import { disclaimer, flagDescription, seriesDescription } from './wording.js';

export const kosSeriesNumber = 9902;

/**
 * A Part 10 file (Explicit VR LE) of the flag for an urgent `result`. A flag says "look here
 * first"; for a negative series it would say nothing true, so that is refused.
 */
export function buildKos(result: SeriesResult, source: Buffer, options: ReportOptions): Buffer {
  if (result.decision !== 'urgent') throw new Error(`a KOS flag is only built for urgent series; series ${result.seriesUid} is ${result.decision}`);
  // Best slice of every flagged class first, then the rest; each slice once.
  const ranked = result.flagged.flatMap((c) => result.keySlices[c] ?? []).sort((a, b) => b.probability - a.probability);
  const slices = [...new Map(ranked.map((s) => [s.sopInstanceUid, s])).values()];
  if (slices.length === 0) throw new Error(`urgent series ${result.seriesUid} has no key slices to flag`);
  const ctx = documentContext(result.model, options);
  return writeDocument(
    readReportSource(source),
    {
      sopClassUid: SopClass.KeyObjectSelection,
      modality: 'KO',
      seriesNumber: kosSeriesNumber,
      seriesDescription: seriesDescription('flag', result.model),
      title: Code.ofInterest,
      templateIdentifier: '2010',
      content: [
        ...contextItems(ctx),
        text('CONTAINS', Code.keyObjectDescription, `${flagDescription}. ${disclaimer(result.model)}`),
        ...slices.map((s) => image('CONTAINS', s)),
      ],
      evidence: { studyUid: result.studyUid, seriesUid: result.seriesUid, instances: slices },
      header: {},
    },
    result.model,
    ctx,
    options,
  );
}
