import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { ZodError } from 'zod';
import { IchError } from '../errors.js';
import { configSchema, type Config } from './schema.js';

export interface LoadedConfig {
  readonly file: string;
  readonly config: Readonly<Config>;
}

/** The config file named by --config, else ICH_TRIAGE_CONFIG. */
export function configPath(cliPath: string | undefined, env = process.env): string {
  const file = cliPath ?? env['ICH_TRIAGE_CONFIG'];
  if (!file) {
    throw new IchError('CONFIG_NOT_FOUND', 'no config file given (use --config FILE or ICH_TRIAGE_CONFIG)');
  }
  return path.resolve(file);
}

export function loadConfig(cliPath?: string, env = process.env): LoadedConfig {
  const file = configPath(cliPath, env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new IchError('CONFIG_NOT_FOUND', `${file}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  }
  return { file, config: parseConfig(text, file) };
}

/** Validates YAML text; errors name the file, the key and the reason. */
export function parseConfig(text: string, file: string): Readonly<Config> {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new IchError('CONFIG_INVALID', `${file}: YAML syntax error at line ${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0]}`);
  }
  const raw: unknown = doc.toJS() ?? {};
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new IchError('CONFIG_INVALID', describeIssues(result.error, file));
  }
  return deepFreeze(resolvePaths(result.data, path.dirname(file)));
}

function describeIssues(error: ZodError, file: string): string {
  return error.issues
    .flatMap((i) =>
      i.code === 'unrecognized_keys'
        ? i.keys.map((k) => `${file}: key "${[...i.path, k].join('.')}": unknown key`)
        : [`${file}: key "${i.path.join('.') || '(root)'}": ${i.message}`],
    )
    .join('\n');
}

/** Relative paths in the config are relative to the config file's folder. */
function resolvePaths(c: Config, dir: string): Config {
  const abs = (p: string) => (p === '' ? p : path.resolve(dir, p));
  return {
    ...c,
    storage: { ...c.storage, dataDir: abs(c.storage.dataDir) },
    model: { ...c.model, path: abs(c.model.path) },
    dicom: {
      ...c.dicom,
      tls: { ...c.dicom.tls, cert: abs(c.dicom.tls.cert), key: abs(c.dicom.tls.key), ca: abs(c.dicom.tls.ca) },
    },
  };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

export interface SecretExposure {
  file: string;
  /** Permission bits, octal ("644"). */
  mode: string;
  /** The config keys whose secrets the file holds or names. */
  holds: string[];
}

/**
 * Files holding secrets that users other than the owner can read: the config file when it
 * has email.smtp.pass or names a TLS key, and the TLS key itself. The node runs anyway (an
 * operator may have reasons) but says so at start.
 */
export function exposedSecrets(loaded: LoadedConfig): SecretExposure[] {
  const c = loaded.config;
  const holds = [...(c.email.smtp.pass ? ['email.smtp.pass'] : []), ...(c.dicom.tls.key ? ['dicom.tls.key'] : [])];
  const files = [...(holds.length > 0 ? [{ file: loaded.file, holds }] : []), ...(c.dicom.tls.key ? [{ file: c.dicom.tls.key, holds: ['dicom.tls.key (the key itself)'] }] : [])];
  return files.flatMap(({ file, holds }) => {
    let mode: number;
    try {
      mode = statSync(file).mode & 0o777;
    } catch {
      // A missing key file is reported where it is read.
      return [];
    }
    return (mode & 0o077) !== 0 ? [{ file, mode: mode.toString(8), holds }] : [];
  });
}
