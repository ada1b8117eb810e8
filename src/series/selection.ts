/** Which series are classified (DESIGN.md section 4): pure rules, each refusal says why. */
import type { Config } from '../config/schema.js';

export type SelectionRules = Config['series']['selection'];

export interface SeriesFacts {
  modality: string | null;
  seriesDescription: string | null;
  contrastAgent: string | null;
}

export interface SliceFacts {
  tiltDeg: number | null;
  imageType: string | null;
}

/** "(?i)bone" style flags, as in other tools' configs, become a JavaScript RegExp. */
export function compilePattern(pattern: string): RegExp {
  const m = /^\(\?([a-z]+)\)/.exec(pattern);
  return m ? new RegExp(pattern.slice(m[0].length), m[1]) : new RegExp(pattern);
}

/** Null when the series should be classified; otherwise the reason it is skipped. */
export function selectionRefusal(series: SeriesFacts, slices: readonly SliceFacts[], rules: SelectionRules): string | null {
  const modality = series.modality ?? '';
  if (!rules.modalities.includes(modality)) {
    return `modality ${modality || '(none)'} is not in series.selection.modalities [${rules.modalities.join(', ')}]`;
  }
  if (slices.length < rules.minSlices) {
    return `${slices.length} slices, fewer than series.selection.minSlices (${rules.minSlices})`;
  }
  const majority = (pred: (s: SliceFacts) => boolean) => slices.filter(pred).length * 2 > slices.length;
  if (majority((s) => s.tiltDeg !== null && s.tiltDeg > rules.maxTiltDegrees)) {
    const tilts = slices.map((s) => s.tiltDeg ?? 0).sort((a, b) => a - b);
    return `not axial: slice normal ${tilts[Math.floor(tilts.length / 2)]!.toFixed(0)} degrees from the patient's z axis (series.selection.maxTiltDegrees ${rules.maxTiltDegrees})`;
  }
  const excluded = rules.excludeImageTypes.map((t) => t.toUpperCase());
  const typeHit = (s: SliceFacts) => (s.imageType ?? '').toUpperCase().split('\\').find((v) => excluded.includes(v));
  if (majority((s) => typeHit(s) !== undefined)) {
    return `image type ${slices.map(typeHit).find((v) => v)} is excluded (series.selection.excludeImageTypes)`;
  }
  const description = series.seriesDescription ?? '';
  const pattern = rules.excludeSeriesDescriptions.find((p) => compilePattern(p).test(description));
  if (pattern !== undefined) {
    return `series description matches "${pattern}" (series.selection.excludeSeriesDescriptions)`;
  }
  if (rules.excludeContrast && series.contrastAgent) {
    return 'contrast-enhanced series (series.selection.excludeContrast)';
  }
  return null;
}
