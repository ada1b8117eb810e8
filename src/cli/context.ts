import { fileURLToPath } from 'node:url';
import { loadConfig, type LoadedConfig } from '../config/load.js';

/** The example config shipped beside the code: the defaults of `npm start`. */
export const exampleConfigPath = fileURLToPath(new URL('../../config/ich-triage.example.yaml', import.meta.url));

/** --config, else ICH_TRIAGE_CONFIG, else the shipped example (offline commands only). */
export function loadConfigOrExample(cliPath: string | undefined, env = process.env): LoadedConfig {
  return loadConfig(cliPath ?? env['ICH_TRIAGE_CONFIG'] ?? exampleConfigPath, env);
}
