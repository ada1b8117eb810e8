import { afterEach, expect, test } from 'vitest';
import path from 'node:path';
import { syntheticSeries, writeSlices, type Slice } from '../helpers/synthetic.js';
import { decodeMail } from '../dispatch/mail.js';
import { SopClass, eventually, receivedObjects } from '../dispatch/peers.js';
import { node, pacsIn, scenarioConfig, seriesOutputs, smtpSink, tearDown, tempDir, urgentThresholds } from '../dispatch/harness.js';
import { seededRandom } from './random.js';
import { newSenderStats, sendUntilAcknowledged } from './sender.js';

// kill -9 at random moments while 4 associations send 200 slices and while the node classifies,
// decides and reports: every acknowledged instance is classified, every series decided once
// and reported once (one SR object per series at the PACS, one sent SR/KOS/email row each).

afterEach(tearDown);

const seed = Number(process.env['ICH_CRASH_SEED'] ?? 0x1c4) >>> 0;
const associations = 4;
const slicesPerSeries = 50;

test('SIGKILL at random moments during transfer, classification and dispatch: nothing acknowledged is lost, each series reported once', async () => {
  const random = seededRandom(seed);
  const dir = tempDir();
  const smtp = await smtpSink();
  const pacs = await pacsIn(dir, 'PACS');
  // idleSeconds 3, counted while the node is up: a sender's retry brings the rest of its series
  // long before, so no series is decided before all its slices are in (a late slice would make
  // a second revision, and a second SR, by design). Counted from the last slice alone, a series
  // whose sender waited out a few restarts was decided at the next start (a CI failure).
  const d = await node({ ...scenarioConfig({ pacs, smtpPort: smtp.port, thresholds: urgentThresholds }), series: { idleSeconds: 3 } });

  const series: Slice[][] = Array.from({ length: associations }, () => syntheticSeries({ slices: slicesPerSeries, rows: 512, columns: 512 }));
  const files = series.map((s, i) => writeSlices(path.join(dir, `in${i}`), s, `s${i}-`));
  const stats = newSenderStats();
  let sending = true;
  const senders = Promise.all(files.map((f, i) => sendUntilAcknowledged(d.port, f, `SCANNER_${i}`, stats))).finally(() => (sending = false));

  const settledAll = () => series.every((s) => {
    const { series: row, rows } = seriesOutputs(d, s[0]!.seriesUid);
    return row?.state === 'decided' && rows.length === 3 && rows.every((r) => r.state === 'sent');
  });
  /** What the node was doing when it was killed, from its rows. */
  const phase = () => {
    if (sending) return 'transfer';
    const db = d.openDb();
    try {
      if ((db.prepare("SELECT count(*) FROM instances WHERE state = 'received'").pluck().get() as number) > 0) return 'classify';
      if ((db.prepare("SELECT count(*) FROM series WHERE state = 'open'").pluck().get() as number) > 0) return 'idle wait';
      return 'dispatch';
    } finally {
      db.close();
    }
  };
  // While sending: a kill every 0.1-0.7 s (restarts included, the senders retry). Afterwards up
  // to 10 more, 0.5-6 s apart (some beyond a restart plus idleSeconds), while the node
  // classifies, waits for the series to go idle, decides and sends; then it finishes.
  const kills: string[] = [];
  for (let after = 0; sending || (after < 10 && !settledAll()); ) {
    const afterMs = Math.round(sending ? 100 + random() * 600 : 500 + random() * 5500);
    await new Promise((resolve) => setTimeout(resolve, afterMs));
    if (!sending) after++;
    kills.push(phase());
    expect(await d.stop('SIGKILL')).toBe('SIGKILL');
    await d.restart();
  }
  await senders;

  const settled = await eventually('every series decided and its SR, KOS and email sent', () => settledAll(), 120_000);
  expect(settled).toBe(true);

  // Every acknowledged instance (all of them, in the end) has its row and its result.
  const db = d.openDb();
  const instances = db.prepare('SELECT sop_instance_uid AS uid, state FROM instances').all() as { uid: string; state: string }[];
  const results = db.prepare('SELECT count(*) FROM slice_results').pluck().get() as number;
  const outbox = db.prepare("SELECT kind, state, count(*) AS n FROM outbox GROUP BY kind, state ORDER BY kind").all() as { kind: string; state: string; n: number }[];
  const revisions = db.prepare('SELECT series_uid AS uid, revision, state, decision FROM series').all() as { uid: string; revision: number; state: string; decision: string }[];
  db.close();
  const byUid = new Map(instances.map((r) => [r.uid, r.state]));
  const all = series.flat();
  for (const slice of all) expect(byUid.get(slice.sopInstanceUid), slice.sopInstanceUid).toBe('classified');
  expect(instances).toHaveLength(all.length);
  expect(results).toBe(all.length);

  // Decided once (revision 0), one sent SR, KOS and email row per series.
  expect(revisions.map((r) => [r.revision, r.state, r.decision])).toEqual(Array(associations).fill([0, 'decided', 'urgent']));
  expect(outbox).toEqual([
    { kind: 'email', state: 'sent', n: associations },
    { kind: 'kos', state: 'sent', n: associations },
    { kind: 'sr', state: 'sent', n: associations },
  ]);

  // At the PACS: one SR object per series (the same SOP Instance UID if a kill fell between the
  // PACS's answer and the row's commit, the documented window for a repeat delivery).
  const received = receivedObjects(pacs.dir);
  const srs = received.filter((o) => o.sopClassUid === SopClass.comprehensiveSr);
  const srUids = new Set(srs.map((o) => o.sopInstanceUid));
  expect(srUids.size).toBe(associations);
  expect(new Set(srs.map((o) => o.dataset.StudyInstanceUID))).toEqual(new Set(series.map((s) => s[0]!.studyUid)));
  const kos = received.filter((o) => o.sopClassUid === SopClass.kos);
  expect(new Set(kos.map((o) => o.sopInstanceUid)).size).toBe(associations);
  const subjects = new Set(smtp.messages.map((m) => decodeMail(m.raw).subject));
  expect(smtp.messages.length).toBeGreaterThanOrEqual(associations);
  for (const s of subjects) expect(s).toMatch(/^\[URGENT\] /);

  const summary = {
    seed: `0x${seed.toString(16)}`,
    kills: kills.length,
    killsBy: Object.fromEntries(['transfer', 'classify', 'idle wait', 'dispatch'].map((p) => [p, kills.filter((k) => k === p).length])),
    storescuRuns: stats.runs,
    slicesSent: all.length,
    instanceRows: instances.length,
    classified: [...byUid.values()].filter((s) => s === 'classified').length,
    sliceResults: results,
    seriesDecided: revisions.length,
    srObjectsAtPacs: srUids.size,
    srDeliveries: srs.length,
    kosObjectsAtPacs: new Set(kos.map((o) => o.sopInstanceUid)).size,
    emails: smtp.messages.length,
    outbox: Object.fromEntries(outbox.map((o) => [`${o.kind}_${o.state}`, o.n])),
  };
  console.log(`crash safety: ${JSON.stringify(summary)}`);
}, 300_000);
