import { afterEach, expect, test } from 'vitest';
import { syntheticSeries } from '../helpers/synthetic.js';
import { freePorts } from '../helpers/ports.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { decodeMail } from './mail.js';
import { SopClass, cli, eventually, receivedObjects } from './peers.js';
import { node, pacsIn, phi, scenarioConfig, send, seriesOutputs, settled, smtpSink, tearDown, tempDir, urgentThresholds } from './harness.js';

// The outbox under outages: peers down for the first attempts, a mail server refusing for good,
// the operator's `outbox retry`, and kill -9 between the decision and the sending. Every series
// is urgent (harness.ts), so each one queues an SR, a KOS and an email.

afterEach(tearDown);

/** Resolves once each of the series' SR, KOS and email rows has failed `attempts` times and waits for another try. */
function failing(d: TestDaemon, seriesUid: string, attempts: number) {
  return eventually(`SR, KOS and email each failing ${attempts} times`, () => {
    const { rows } = seriesOutputs(d, seriesUid);
    return rows.length === 3 && rows.every((r) => r.state === 'pending' && r.attempts >= attempts) && rows;
  });
}

function expectDeliveredOnce(pacsDir: string, smtp: { messages: unknown[] }, rows: { kind: string; attempts: number }[]) {
  expect(receivedObjects(pacsDir).map((o) => o.sopClassUid).sort()).toEqual([SopClass.comprehensiveSr, SopClass.kos]);
  expect(smtp.messages).toHaveLength(1);
  expect(rows.map((r) => r.kind).sort()).toEqual(['email', 'kos', 'sr']);
}

/** An urgent series sent to a node whose PACS and mail server are not up yet (their ports are free). */
async function urgentSeriesWithPeersDown() {
  const dir = tempDir();
  const [pacsPort, smtpPort] = await freePorts(2);
  const d = await node(scenarioConfig({ pacs: { aeTitle: 'PACS', port: pacsPort! }, smtpPort: smtpPort!, thresholds: urgentThresholds }));
  const series = syntheticSeries({ slices: 10, ...phi });
  await send(d, dir, series, 's');
  return { dir, d, pacsPort: pacsPort!, smtpPort: smtpPort!, uid: series[0]!.seriesUid };
}

test('PACS and mail server down for the first attempts, then up: retried with backoff, delivered exactly once', async () => {
  const { dir, d, pacsPort, smtpPort, uid } = await urgentSeriesWithPeersDown();

  const down = await failing(d, uid, 2);
  const db = d.openDb();
  const errors = db.prepare('SELECT kind, last_error AS error FROM outbox WHERE series_uid = ? ORDER BY kind').all(uid) as { kind: string; error: string }[];
  db.close();
  // An unreachable peer is told apart from a rejection.
  expect(errors.find((e) => e.kind === 'sr')!.error).toMatch(/^unreachable: /);
  expect(errors.find((e) => e.kind === 'email')!.error).toMatch(/^smtp: .*ECONNREFUSED/);
  expect(down.every((r) => r.attempts >= 2)).toBe(true);

  const pacs = await pacsIn(dir, 'PACS', pacsPort);
  const smtp = await smtpSink(smtpPort);
  const { rows } = await settled(d, uid);
  for (const r of rows) expect(r.attempts).toBeGreaterThan(2);
  expectDeliveredOnce(pacs.dir, smtp, rows);
});

test('SMTP 5xx fails the email for good, visible in `outbox list`; `outbox retry` sends it (and a sent SR) again', async () => {
  const dir = tempDir();
  const smtp = await smtpSink();
  smtp.rejectWith = { code: 554, message: '5.7.1 Message rejected by policy' };
  const pacs = await pacsIn(dir, 'PACS');
  const d = await node(scenarioConfig({ pacs, smtpPort: smtp.port, thresholds: urgentThresholds }));
  const series = syntheticSeries({ slices: 10, ...phi });
  await send(d, dir, series, 's');
  const uid = series[0]!.seriesUid;

  const failed = await eventually('the email row failed and the SR and KOS sent', () => {
    const { rows } = seriesOutputs(d, uid);
    const email = rows.find((r) => r.kind === 'email');
    return rows.length === 3 && email?.state === 'failed' && rows.every((r) => r.kind === 'email' || r.state === 'sent') && rows;
  });
  // A permanent refusal is not retried.
  expect(failed.find((r) => r.kind === 'email')!.attempts).toBe(1);

  const listed = cli(d, 'outbox', 'list', '--json');
  expect(listed.status, listed.stderr).toBe(0);
  const list = JSON.parse(listed.stdout) as { id: number; kind: string; state: string; attempts: number; lastStatus: number | null; lastError: string | null; payload?: unknown }[];
  const emailRow = list.find((r) => r.kind === 'email')!;
  expect(emailRow).toMatchObject({ state: 'failed', attempts: 1, lastStatus: 554 });
  expect(emailRow.lastError).toContain('Message rejected by policy');
  // Payloads (which may hold PHI when email.includePhi is set) stay out of the listing.
  expect(emailRow.payload).toBeUndefined();
  // Dead letters can be listed on their own.
  const onlyFailed = JSON.parse(cli(d, 'outbox', 'list', '--state', 'failed', '--json').stdout) as { id: number }[];
  expect(onlyFailed.map((r) => r.id)).toEqual([emailRow.id]);
  const text = cli(d, 'outbox', 'list');
  expect(text.stdout.split('\n').find((l) => l.startsWith(`${emailRow.id} `))).toMatch(/email\s+email\s+failed\s+1\s+554\s+smtp: /);

  smtp.rejectWith = null;
  const retried = cli(d, 'outbox', 'retry', String(emailRow.id));
  expect(retried.status, retried.stderr).toBe(0);
  expect(retried.stdout).toBe(`outbox row ${emailRow.id} queued again\n`);
  const [mail] = await smtp.waitForCount(1);
  expect(decodeMail(mail!.raw).subject).toMatch(/^\[URGENT\] /);
  const sent = await eventually('the retried email row sent', () => seriesOutputs(d, uid).rows.find((r) => r.kind === 'email' && r.state === 'sent'));
  // Requeued with a fresh count: the retry was its first attempt.
  expect(sent.attempts).toBe(1);

  // Retry is the one way to send a sent output again: the PACS gets the same SR a second time.
  const srRow = list.find((r) => r.kind === 'sr')!;
  expect(cli(d, 'outbox', 'retry', String(srRow.id)).status).toBe(0);
  const objects = await eventually('the SR received twice', () => {
    const received = receivedObjects(pacs.dir);
    return received.length === 3 && received;
  });
  const srs = objects.filter((o) => o.sopClassUid === SopClass.comprehensiveSr);
  expect(srs).toHaveLength(2);
  expect(srs[0]!.sopInstanceUid).toBe(srs[1]!.sopInstanceUid);
  expect(smtp.messages).toHaveLength(1);

  const missing = cli(d, 'outbox', 'retry', '99999');
  expect(missing.status).not.toBe(0);
  expect(missing.stderr).toContain('no outbox row 99999');
});

test('kill -9 between the decision and the sending (PACS and mail down): after a restart with the peers up, delivered exactly once', async () => {
  const { dir, d, pacsPort, smtpPort, uid } = await urgentSeriesWithPeersDown();
  await failing(d, uid, 1);
  expect(await d.stop('SIGKILL')).toBe('SIGKILL');

  const pacs = await pacsIn(dir, 'PACS', pacsPort);
  const smtp = await smtpSink(smtpPort);
  await d.restart();
  const { series: row, rows } = await settled(d, uid);
  // Decided once, before the kill: the restart resumed the outbox, it did not decide again.
  expect(row!.revision).toBe(0);
  for (const r of rows) expect(r.attempts).toBeGreaterThan(1);
  expectDeliveredOnce(pacs.dir, smtp, rows);
});
