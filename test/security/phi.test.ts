import { afterEach, expect, test } from 'vitest';
import path from 'node:path';
import { freePorts } from '../helpers/ports.js';
import { storescu, storeResponses } from '../helpers/dcmtk.js';
import { CtImageStorage, ExplicitVRLittleEndian, syntheticSeries, syntheticSlice, writeSlices } from '../helpers/synthetic.js';
import { RawPeer } from '../helpers/rawPeer.js';
import { decodeMail } from '../dispatch/mail.js';
import { SopClass, eventually, receivedObjects } from '../dispatch/peers.js';
import { node, pacsIn, scenarioConfig, settled, smtpSink, tearDown, tempDir, urgentThresholds } from '../dispatch/harness.js';

// PHI redaction proven on a whole run at log level trace: ingest (stored, refused, duplicate),
// classification (a slice that cannot be decoded), decision, early alert and final email,
// routing, SR/KOS to a PACS that is down at first (retries logged) and then up. Every line the
// node wrote is searched for the patient's name, ID and birth date in the forms they could take.
// (test/ingest/lifecycle.test.ts covers ingest alone; the dispatch tests check the emails.)

afterEach(tearDown);

const patient = { patientName: 'Zyxwvut^Qoppa^Mirela', patientId: 'PHI-58213-X', patientBirthDate: '19470315' };
const forms = ['Zyxwvut', 'Qoppa', 'Mirela', 'PHI-58213-X', '58213', '19470315', '1947-03-15', '15.03.1947', '03/15/1947'];

test('a full run at log level trace writes no patient name, ID or birth date', async () => {
  const dir = tempDir();
  const smtp = await smtpSink();
  const router = await pacsIn(dir, 'ROUTER');
  const [pacsPort] = await freePorts(1);
  const d = await node({
    ...scenarioConfig({ pacs: { aeTitle: 'PACS', port: pacsPort! }, smtpPort: smtp.port, router, thresholds: urgentThresholds, alerts: { early: true, threshold: 0, slices: 2 } }),
    logging: { level: 'trace', phi: false },
  });

  const series = syntheticSeries({ slices: 10, ...patient });
  // A slice of the series whose pixel data is cut short: stored, then not classifiable.
  const broken = syntheticSlice({ ...patient, seriesUid: series[0]!.seriesUid, studyUid: series[0]!.studyUid, instanceNumber: 11, imagePositionPatient: [-16, -16, 50] });
  // dcmtk will not send a file cut short: the raw peer does (first, so the series is not yet decided).
  const peer = await RawPeer.connect(d.port);
  expect((await peer.associate(d.aeTitle, 'RAW_PEER', [{ id: 1, abstractSyntax: CtImageStorage, transferSyntaxes: [ExplicitVRLittleEndian] }])).accepted).toBe(true);
  expect((await peer.cStore(1, CtImageStorage, broken.sopInstanceUid, broken.dataSet.subarray(0, broken.dataSet.length - 100))).status).toBe(0);
  expect(await peer.release()).toBe(true);
  const noStudy = syntheticSlice({ ...patient, omitStudyUid: true });
  const files = writeSlices(path.join(dir, 'in'), [...series, noStudy, series[0]!]);
  const r = await storescu({ port: d.port }, files, ['--no-halt']);
  expect(storeResponses(r.stderr).map((x) => x.status)).toEqual([...Array(10).fill('Success'), 'Error: CannotUnderstand', 'Success']);

  // The PACS is down for the first attempts.
  await eventually('an SR attempt failed', () => d.logs.some((l) => l.msg === 'output not delivered; will retry' && l.kind === 'sr'));
  const pacs = await pacsIn(dir, 'PACS', pacsPort);
  // The slice cut short is not forwarded: a PACS would abort the association on it.
  const cutShort = `forward:${broken.sopInstanceUid}:router`;
  await settled(d, series[0]!.seriesUid, [cutShort]);
  expect(d.logs.some((l) => l.msg.startsWith('output failed') && String(l['error'] ?? '').startsWith('the stored data set cannot be sent as it is'))).toBe(true);
  expect(receivedObjects(pacs.dir).map((o) => o.sopClassUid).sort()).toEqual([SopClass.comprehensiveSr, SopClass.kos]);
  // The early alert took the urgent email's key: one email.
  expect(smtp.messages).toHaveLength(1);
  await d.stop();

  const kinds = new Set(d.logs.map((l) => l.msg));
  for (const step of ['instance stored', 'instance refused', 'duplicate instance acknowledged, first copy kept', 'slice could not be classified', 'batch classified', 'series decided', 'output not delivered; will retry', 'output delivered']) {
    expect(kinds, `the run should have logged "${step}"`).toContain(step);
  }
  const text = [...d.logs.map((l) => JSON.stringify(l)), ...d.rawOutput].join('\n');
  const found = forms.filter((f) => text.includes(f));
  console.log(`PHI in logs: ${d.logs.length} lines at trace level (${kinds.size} kinds) searched for ${forms.length} forms of name, ID and birth date: ${found.length === 0 ? 'none found' : found.join(', ')}`);
  expect(found).toEqual([]);

  // And the email (email.includePhi false) carries none of it either.
  const mail = decodeMail(smtp.messages[0]!.raw);
  const mailText = [mail.subject, ...mail.parts.values()].join('\n');
  expect(forms.filter((f) => mailText.includes(f))).toEqual([]);
}, 120_000);
