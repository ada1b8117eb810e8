import { afterEach, expect, test } from 'vitest';
import path from 'node:path';
import { syntheticSeries, writeSlices } from '../helpers/synthetic.js';
import { storescu, storeResponses } from '../helpers/dcmtk.js';
import { startOrthanc } from './peers.js';
import { deferCleanup, node, phi, scenarioConfig, send, settled, smtpSink, tearDown, tempDir, urgentThresholds } from './harness.js';

// Orthanc (a real PACS, Debian package) receives the source series from the "scanner" and the
// node's SR and KOS: both must be filed into the source study, under the source patient.

afterEach(tearDown);

interface OrthancSeries {
  ID: string;
  MainDicomTags: { Modality?: string; SeriesInstanceUID: string; SeriesDescription?: string };
  Instances: string[];
}

test('Orthanc as the PACS: the SR and the KOS land in the source study', async () => {
  const dir = tempDir();
  const orthanc = await startOrthanc(path.join(dir, 'orthanc'));
  deferCleanup(() => orthanc.stop());
  const smtp = await smtpSink();
  const d = await node(scenarioConfig({ pacs: { aeTitle: orthanc.aeTitle, port: orthanc.dicomPort }, smtpPort: smtp.port, thresholds: urgentThresholds }));

  const series = syntheticSeries({ slices: 10, ...phi, seriesDescription: 'HEAD 5mm' });
  const toOrthanc = await storescu({ port: orthanc.dicomPort, calledAe: orthanc.aeTitle }, writeSlices(path.join(dir, 'scanner'), series));
  expect(storeResponses(toOrthanc.stderr).filter((x) => x.status === 'Success'), toOrthanc.output).toHaveLength(series.length);
  await send(d, dir, series, 'node');
  await settled(d, series[0]!.seriesUid);

  const studies = (await orthanc.post('/tools/find', { Level: 'Study', Query: { StudyInstanceUID: series[0]!.studyUid } })) as string[];
  expect(studies).toHaveLength(1);
  const inStudy = (await orthanc.get(`/studies/${studies[0]}/series`)) as OrthancSeries[];
  const byModality = Object.fromEntries(inStudy.map((s) => [s.MainDicomTags.Modality, s]));
  expect(Object.keys(byModality).sort()).toEqual(['CT', 'KO', 'SR']);
  expect(byModality.CT!.MainDicomTags.SeriesInstanceUID).toBe(series[0]!.seriesUid);
  expect(byModality.CT!.Instances).toHaveLength(series.length);
  for (const modality of ['SR', 'KO']) {
    const s = byModality[modality]!;
    expect(s.Instances).toHaveLength(1);
    expect(s.MainDicomTags.SeriesDescription).toContain('not for diagnostic use');
    const tags = (await orthanc.get(`/instances/${s.Instances[0]}/simplified-tags`)) as Record<string, string>;
    expect(tags.StudyInstanceUID).toBe(series[0]!.studyUid);
    expect(tags.PatientID).toBe(phi.patientId);
  }
  // One patient: the results did not create a second one beside the source.
  expect(await orthanc.get('/patients')).toHaveLength(1);
});
