import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { IchError, errorMessage } from '../errors.js';
import type { InputSpec } from '../imaging/types.js';
import type { ModelInfo } from '../series/result.js';
import { readOnnxMetadata } from './onnxMetadata.js';

/** Everything the node takes from a model file's `metadata_props` (DESIGN.md section 3). */
export interface ModelContract {
  path: string;
  sha256: string;
  classes: string[];
  input: InputSpec & { name: string };
  outputName: string;
  /** The model's own operating points, one per class. */
  thresholds: Record<string, number>;
  info: ModelInfo;
  /** ich.model as written by the exporter, kept for traceability. */
  card: Record<string, unknown>;
}

const classesSchema = z.array(z.string().min(1)).min(1);
const windowsSchema = z.array(z.object({ name: z.string().min(1), center: z.number(), width: z.number().positive() })).min(1);
const inputSchema = z.object({
  name: z.string().min(1),
  layout: z.literal('NCHW'),
  size: z.number().int().min(8).max(2048),
  resize: z.literal('bilinear'),
});
const outputSchema = z.object({ name: z.string().min(1), activation: z.literal('sigmoid') });
const thresholdsSchema = z.record(z.string(), z.number().min(0).max(1));
const cardSchema = z
  .object({ name: z.string().min(1), version: z.string().min(1), architecture: z.string().default(''), intended_use: z.string().default('') })
  .passthrough();

/** Reads and checks the contract; the error names what is missing or wrong. */
export function loadModelContract(path: string): ModelContract {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new IchError('MODEL_NOT_FOUND', `${path}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, { cause: err });
  }
  let meta: Map<string, string>;
  try {
    meta = readOnnxMetadata(bytes);
  } catch (err) {
    throw new IchError('MODEL_CONTRACT', `${path}: ${errorMessage(err)}`, { cause: err });
  }
  const field = <T>(key: string, schema: z.ZodType<T>): T => {
    const text = meta.get(key);
    if (text === undefined) throw new IchError('MODEL_CONTRACT', `${path}: metadata_props has no "${key}"`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new IchError('MODEL_CONTRACT', `${path}: "${key}" is not JSON`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new IchError('MODEL_CONTRACT', `${path}: "${key}" ${issue.path.length ? `at ${issue.path.join('.')} ` : ''}${issue.message}`);
    }
    return parsed.data;
  };
  const classes = field('ich.classes', classesSchema);
  const windows = field('ich.windows', windowsSchema);
  const input = field('ich.input', inputSchema);
  const output = field('ich.output', outputSchema);
  const thresholds = field('ich.thresholds', thresholdsSchema);
  const card = field('ich.model', cardSchema);
  const missing = classes.filter((c) => thresholds[c] === undefined);
  if (missing.length > 0) throw new IchError('MODEL_CONTRACT', `${path}: "ich.thresholds" has no threshold for ${missing.join(', ')}`);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return {
    path,
    sha256,
    classes,
    input: { name: input.name, size: input.size, windows },
    outputName: output.name,
    thresholds,
    card,
    info: {
      name: card.name,
      version: card.version,
      architecture: card.architecture,
      intendedUse: card.intended_use,
      sha256,
      demo: isDemonstration(card.intended_use),
    },
  };
}

/** Models whose intended use rules out clinical use carry that wording into every output. */
export function isDemonstration(intendedUse: string): boolean {
  return /not for clinical use|demonstration|research only|test model/i.test(intendedUse);
}

/** The model's thresholds with the config's overrides; an override for an unknown class is an error. */
export function effectiveThresholds(contract: ModelContract, overrides: Readonly<Record<string, number>>, configFile: string): Record<string, number> {
  for (const name of Object.keys(overrides)) {
    if (!contract.classes.includes(name)) {
      throw new IchError('CONFIG_INVALID', `${configFile}: key "model.thresholds.${name}": the model has no class "${name}" (classes: ${contract.classes.join(', ')})`);
    }
  }
  return { ...contract.thresholds, ...overrides };
}
