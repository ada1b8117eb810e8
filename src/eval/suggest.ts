/** A `model.thresholds` block for the config, from the operating points eval found. */
import type { OperatingPoint, PerClass } from './metrics.js';

export interface SuggestedThresholds {
  by: 'precision' | 'recall';
  target: number;
  thresholds: PerClass<number>;
  /** Classes where no observed score reaches the target: the threshold in force is kept. */
  kept: string[];
  yaml: string;
}

export function suggestThresholds(
  points: PerClass<OperatingPoint>,
  by: 'precision' | 'recall',
  target: number,
  inForce: Readonly<PerClass<number>>,
  classes: readonly string[],
  nImages: number,
): SuggestedThresholds {
  const kept = classes.filter((c) => points[c]?.threshold === null);
  const thresholds = Object.fromEntries(classes.map((c) => [c, points[c]?.threshold ?? inForce[c]!]));
  // String(): the shortest text that reads back as the same double, so p >= t selects the
  // same slices in the node as it did here.
  const lines = classes.map((c) => `    ${c}: ${String(thresholds[c])}${kept.includes(c) ? `    # no score reaches ${by} ${target}: threshold in force kept` : ''}`);
  const yaml = [`# ${by} >= ${target} per class on ${nImages} labelled slices (ich-triage eval)`, 'model:', '  thresholds:', ...lines, ''].join('\n');
  return { by, target, thresholds, kept, yaml };
}
