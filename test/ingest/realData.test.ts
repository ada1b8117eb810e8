import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, repoRoot, type TestDaemon } from '../helpers/daemon.js';
import { dcmsend, storescu, storeResponses } from '../helpers/dcmtk.js';
import { dataSetOf } from '../helpers/synthetic.js';

// Real RSNA head CT (invalid "ID_..." UIDs, implicit and explicit VR, JPEG-LS) through real
// senders. The data lives outside the repository; without it these tests are skipped.

const dataRoot = path.resolve(repoRoot, '../shared/data');
const plainDir = path.join(dataRoot, 'rsna-series');
const jplsDir = path.join(dataRoot, 'rsna-series-jpegls');
const present = existsSync(plainDir) && existsSync(jplsDir);
if (!present) console.warn(`real-data ingest tests skipped: ${plainDir} and ${jplsDir} are absent`);

/** Files per series folder; RSNA names each file after its SOP Instance UID. */
function seriesFiles(root: string): string[] {
  return readdirSync(root)
    .sort()
    .flatMap((s) => readdirSync(path.join(root, s)).sort().map((f) => path.join(root, s, f)));
}

const sopOf = (file: string) => path.basename(file, '.dcm');

describe.skipIf(!present)('real RSNA series', () => {
  let daemon: TestDaemon;
  beforeAll(async () => {
    daemon = await startDaemon();
  });
  afterAll(async () => {
    await daemon?.cleanup();
  });

  function rows(callingAe: string) {
    const db = daemon.openDb();
    try {
      return db
        .prepare('SELECT sop_instance_uid AS sop, series_uid AS series, transfer_syntax AS ts, z, path FROM instances WHERE calling_ae = ?')
        .all(callingAe) as { sop: string; series: string; ts: string; z: number | null; path: string }[];
    } finally {
      db.close();
    }
  }

  test('rsna-series by storescu: every file stored, 6 series, UIDs as sent', async () => {
    const files = seriesFiles(plainDir);
    expect(files).toHaveLength(234);
    const r = await storescu({ port: daemon.port, callingAe: 'RSNA_PLAIN' }, files, ['--max-pdu', '131072'], { timeoutMs: 120_000 });
    expect(r.code, r.output.slice(-2000)).toBe(0);
    expect(storeResponses(r.stderr).filter((x) => x.status === 'Success')).toHaveLength(234);
    const stored = rows('RSNA_PLAIN');
    expect(new Set(stored.map((x) => x.sop))).toEqual(new Set(files.map(sopOf)));
    expect(new Set(stored.map((x) => x.series)).size).toBe(6);
    expect(stored.every((x) => x.z !== null)).toBe(true);
  });

  test('rsna-series-jpegls by dcmsend: every file stored as JPEG-LS, unchanged, 24 series', async () => {
    const files = seriesFiles(jplsDir);
    expect(files).toHaveLength(851);
    const r = await dcmsend({ port: daemon.port, callingAe: 'RSNA_JPLS' }, files, [], { timeoutMs: 120_000 });
    expect(r.code, r.output.slice(-2000)).toBe(0);
    expect(r.output).toMatch(/with status SUCCESS\s*: 851/);
    const stored = rows('RSNA_JPLS');
    expect(stored).toHaveLength(851);
    expect(new Set(stored.map((x) => x.series)).size).toBe(24);
    expect(stored.every((x) => x.ts === '1.2.840.10008.1.2.4.80')).toBe(true);
    const bySop = new Map(stored.map((x) => [x.sop, x]));
    for (const file of files) {
      const row = bySop.get(sopOf(file));
      expect(row, file).toBeDefined();
      expect(dataSetOf(readFileSync(path.join(daemon.dataDir, row!.path))).equals(dataSetOf(readFileSync(file))), file).toBe(true);
    }
  });
});
