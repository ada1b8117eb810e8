/** The sentences every output carries, in one place so SR, KOS and email say the same thing. */
import type { ModelInfo } from '../series/result.js';

export const demoWording = 'Demonstration model, not for clinical use.';
export const flagDescription = 'Suspected intracranial hemorrhage (AI triage)';

export function disclaimer(model: ModelInfo): string {
  const base = `AI-generated result (${model.name} ${model.version}), not verified by a physician: not for diagnostic use.`;
  return model.demo ? `${base} ${demoWording}` : base;
}

/** SeriesDescription is LO: 64 characters at most, so the demo mark stays short. */
export function seriesDescription(kind: 'report' | 'flag', model: ModelInfo): string {
  const what = kind === 'report' ? 'AI ICH triage' : 'AI ICH flag';
  return `${what}${model.demo ? ' (demonstration model)' : ''} - not for diagnostic use`;
}
