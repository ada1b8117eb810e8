import { readFileSync } from 'node:fs';

/** ich-triage's own version, from package.json, as recorded in reports and logs. */
export const softwareVersion: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
