import { afterEach, expect, test } from 'vitest';
import { newUid, syntheticSeries, syntheticSlice } from '../helpers/synthetic.js';
import { decodeMail } from './mail.js';
import { SopClass, checkObject, receivedObjects } from './peers.js';
import { allSent, negativeThresholds, node, pacsIn, phi, phiStrings, scenarioConfig, send, seriesOutputs, settled, smtpSink, tearDown, tempDir, urgentThresholds } from './harness.js';

// Results back to radiologists, end to end: the node as a process, dcmtk storescp as the PACS
// and as a routing target, smtp-server as the mail server. Decisions are forced by thresholds
// (harness.ts says why).

afterEach(tearDown);

test('urgent series: SR and KOS reach the PACS in the source study, valid, with the findings; one PHI-free [URGENT] email per series; routing forwards every instance', async () => {
  const dir = tempDir();
  const smtp = await smtpSink();
  const pacs = await pacsIn(dir, 'PACS');
  const router = await pacsIn(dir, 'ROUTER');
  const d = await node(scenarioConfig({ pacs, smtpPort: smtp.port, router, thresholds: urgentThresholds }));

  const a = syntheticSeries({ slices: 12, ...phi, seriesDescription: 'HEAD 5mm' });
  const b = syntheticSeries({ slices: 10, ...phi, seriesDescription: 'HEAD 5mm' });
  await send(d, dir, a, 'a');
  await send(d, dir, b, 'b');

  // Per series: SR, KOS, email, and one forward per instance.
  await allSent(d, a[0]!.seriesUid, 3 + a.length);
  await allSent(d, b[0]!.seriesUid, 3 + b.length);

  const received = receivedObjects(pacs.dir);
  expect(received.map((o) => o.sopClassUid).sort()).toEqual([SopClass.comprehensiveSr, SopClass.comprehensiveSr, SopClass.kos, SopClass.kos]);
  for (const series of [a, b]) {
    const source = series[0]!;
    const outputs = received.filter((o) => o.dataset.StudyInstanceUID === source.studyUid);
    expect(outputs.map((o) => o.sopClassUid).sort()).toEqual([SopClass.comprehensiveSr, SopClass.kos]);
    for (const o of outputs) {
      // Filed into the source study under the source patient, in a new series with new UIDs.
      expect(o.dataset.PatientID).toBe(phi.patientId);
      expect(o.dataset.SeriesInstanceUID).not.toBe(source.seriesUid);
      expect(o.sopInstanceUid).toMatch(/^2\.25\.\d+$/);
      const check = checkObject(o.file);
      expect(check.errors, check.iod).toEqual([]);
      // Every key slice the object references is an instance of the source series.
      const refs = [...check.dump.matchAll(/IMAGE:=\("[\d.]+","([\d.]+)"\)/g)].map((m) => m[1]);
      expect(refs.length).toBeGreaterThan(0);
      for (const uid of refs) expect(series.map((s) => s.sopInstanceUid)).toContain(uid);
    }
    const sr = checkObject(outputs.find((o) => o.sopClassUid === SopClass.comprehensiveSr)!.file).dump;
    expect(sr).toContain('(1386000,SCT,"Intracranial hemorrhage")=(52101004,SCT,"Present")');
    expect(sr).toContain('(121077,DCM,"Conclusion")="URGENT: suspected intracranial hemorrhage (AI triage).');
    expect(sr).toContain('(122411,DCM,"Threshold Value")="0" (1,UCUM,"no units")');
    expect(sr).toMatch(/\(122157,DCM,"Probability"\)="[\d.e-]+" \(1,UCUM,"no units"\)/);
    expect(sr).toContain('not for diagnostic use');
    const kos = checkObject(outputs.find((o) => o.sopClassUid === SopClass.kos)!.file).dump;
    expect(kos).toContain('<CONTAINER:(113000,DCM,"Of Interest")=SEPARATE>');
    expect(kos).toContain('(113012,DCM,"Key Object Description")="Suspected intracranial hemorrhage (AI triage).');
  }

  // Exactly one email per urgent series; PHI-bearing sources, no PHI in the message.
  expect(smtp.messages).toHaveLength(2);
  for (const m of smtp.messages) {
    const mail = decodeMail(m.raw);
    expect(mail.subject).toMatch(/^\[URGENT\] Suspected intracranial hemorrhage \(AI triage\)/);
    expect(m.envelopeTo).toEqual(['oncall@hospital.example']);
    const text = mail.parts.get('text/plain')!;
    expect(text).toMatch(/^intracranial hemorrhage \(any\)\s+[\d.]+\s+0\.000\s+ABOVE/m);
    expect(mail.parts.get('text/html')).toContain('<th style="text-align:left;padding:2px 8px">Threshold</th>');
    for (const s of phiStrings) {
      expect(m.raw).not.toContain(s);
      for (const body of [mail.subject, ...mail.parts.values()]) expect(body).not.toContain(s);
    }
  }
  expect(smtp.messages.map((m) => decodeMail(m.raw).parts.get('text/plain')!.match(/Series: ([\d.]+)/)![1]).sort()).toEqual([a[0]!.seriesUid, b[0]!.seriesUid].sort());

  // Routing: every received instance reached the forward destination, once.
  const forwarded = receivedObjects(router.dir);
  expect(forwarded.map((o) => o.sopInstanceUid).sort()).toEqual([...a, ...b].map((s) => s.sopInstanceUid).sort());
  for (const o of forwarded) expect(o.sopClassUid).toBe(SopClass.ct);

  // A late slice reopens series a: a new revision brings a new SR and KOS, never a second email.
  const late = syntheticSeries({ slices: 1, ...phi, seriesUid: a[0]!.seriesUid, studyUid: a[0]!.studyUid })[0]!;
  await send(d, dir, [late], 'late');
  const rows = await allSent(d, a[0]!.seriesUid, 3 + a.length + 1 + 2);
  expect(rows.filter((r) => r.kind !== 'forward').map((r) => r.key.replace(a[0]!.seriesUid, 'A')).sort()).toEqual([
    'email:A:urgent',
    'kos:A:r0:pacs',
    'kos:A:r1:pacs',
    'sr:A:r0:pacs',
    'sr:A:r1:pacs',
  ]);
  expect(receivedObjects(pacs.dir)).toHaveLength(6);
  expect(smtp.messages).toHaveLength(2);
});

test('negative series: the PACS receives the SR only (no KOS) and no email is sent', async () => {
  const dir = tempDir();
  const smtp = await smtpSink();
  const pacs = await pacsIn(dir, 'PACS');
  const d = await node(scenarioConfig({ pacs, smtpPort: smtp.port, thresholds: negativeThresholds }));
  const series = syntheticSeries({ slices: 10, ...phi });
  await send(d, dir, series, 'n');
  const { series: row, rows } = await settled(d, series[0]!.seriesUid);
  expect(row.decision).toBe('negative');
  // The email would have been queued with the SR, in the decision's transaction.
  expect(rows.map((r) => r.key)).toEqual([`sr:${series[0]!.seriesUid}:r0:pacs`]);
  const received = receivedObjects(pacs.dir);
  expect(received.map((o) => o.sopClassUid)).toEqual([SopClass.comprehensiveSr]);
  expect(received[0]!.dataset.StudyInstanceUID).toBe(series[0]!.studyUid);
  const check = checkObject(received[0]!.file);
  expect(check.errors, check.iod).toEqual([]);
  expect(check.dump).toContain('(1386000,SCT,"Intracranial hemorrhage")=(272519000,SCT,"Absent")');
  expect(check.dump).toContain('No intracranial hemorrhage above the operating thresholds (AI triage).');
  expect(smtp.messages).toEqual([]);
});

test('early alert: one preliminary [URGENT] email while the series is still arriving, no second urgent email after completion', async () => {
  const dir = tempDir();
  const smtp = await smtpSink();
  const pacs = await pacsIn(dir, 'PACS');
  // alerts.threshold 0: the first two classified adjacent slices trigger it.
  const d = await node(scenarioConfig({ pacs, smtpPort: smtp.port, thresholds: urgentThresholds, alerts: { early: true, threshold: 0, slices: 2 } }));
  const series = syntheticSeries({ slices: 12, ...phi });
  await send(d, dir, series.slice(0, 6), 'first');
  // The rest of the series is sent only once the alert is in: it cannot have waited for completion.
  const [early] = await smtp.waitForCount(1);
  const mail = decodeMail(early!.raw);
  expect(mail.subject).toMatch(/^\[URGENT\] PRELIMINARY: Suspected intracranial hemorrhage \(AI triage\)/);
  expect(mail.parts.get('text/plain')).toMatch(/still arriving: [2-6] slices so far/);
  for (const s of phiStrings) expect(early!.raw).not.toContain(s);
  await send(d, dir, series.slice(6), 'rest');

  const { series: row, rows } = await settled(d, series[0]!.seriesUid);
  expect(row.decision).toBe('urgent');
  const emails = rows.filter((r) => r.kind === 'email');
  expect(emails.map((r) => r.key)).toEqual([`email:${series[0]!.seriesUid}:urgent`]);
  expect(JSON.parse(emails[0]!.payload!).kind).toBe('early');
  expect(emails[0]!.createdAt).toBeLessThan(row.decidedAt);
  // The final SR and KOS still follow completion.
  expect(receivedObjects(pacs.dir).map((o) => o.sopClassUid).sort()).toEqual([SopClass.comprehensiveSr, SopClass.kos]);
  expect(smtp.messages).toHaveLength(1);
});

test('a series whose report cannot be built does not hold back the series behind it', async () => {
  const dir = tempDir();
  const smtp = await smtpSink();
  const pacs = await pacsIn(dir, 'PACS');
  const d = await node(scenarioConfig({ pacs, smtpPort: smtp.port, thresholds: negativeThresholds }));
  // A series that spans two studies (a scanner reusing a series UID): the series takes the
  // study of its first instance, while its report's source (the first slice in z) belongs to
  // the other one. The SR builder refuses to file it into the wrong study.
  const poison = syntheticSeries({ slices: 10 });
  const last = poison.at(-1)!;
  const odd = syntheticSlice({ seriesUid: last.seriesUid, studyUid: newUid(), instanceNumber: last.instanceNumber, imagePositionPatient: last.imagePositionPatient });
  await send(d, dir, [odd, ...poison.slice(0, -1)], 'poison');
  await d.waitForLog((l) => l.msg === 'series decided but its outputs could not be queued; will try again' && l.series === last.seriesUid);

  const healthy = syntheticSeries({ slices: 10 });
  await send(d, dir, healthy, 'healthy');
  const { series } = await settled(d, healthy[0]!.seriesUid);
  expect(series!.decision).toBe('negative');
  expect(receivedObjects(pacs.dir).map((o) => o.dataset.StudyInstanceUID)).toEqual([healthy[0]!.studyUid]);
  // The other one stays open, retried with a growing delay, and nothing was queued for it.
  expect(seriesOutputs(d, last.seriesUid)).toMatchObject({ series: { state: 'open' }, rows: [] });
  const retries = d.logs.filter((l) => l.msg === 'series decided but its outputs could not be queued; will try again' && l.series === last.seriesUid);
  expect(retries.map((l) => l.retryInMs)).toEqual([1000, 2000, 4000, 8000].slice(0, retries.length));
});
