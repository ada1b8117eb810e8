import { afterEach, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { startDaemon, mainJs, repoRoot, type TestDaemon } from '../helpers/daemon.js';
import { freePorts } from '../helpers/ports.js';
import { loadConfig } from '../../src/config/load.js';
import { exampleConfigPath } from '../../src/cli/context.js';

// The first minute of a new user: `ich-triage demo` against a running node with the shipped
// demo model, playing the PACS and the mail server itself.

const run = promisify(execFile);
const daemons: TestDaemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.cleanup()));
});

test('demo sends two phantom series and shows the SR, KOS and email that come back', async () => {
  const [pacsPort, smtpPort] = await freePorts(2);
  const d = await startDaemon({
    config: {
      model: { path: path.resolve(path.dirname(exampleConfigPath), loadConfig(exampleConfigPath).config.model.path), threads: 2 },
      series: { idleSeconds: 2 },
      destinations: [{ name: 'demo', aeTitle: 'DEMO_PACS', host: '127.0.0.1', port: pacsPort, send: ['sr', 'kos'] }],
      email: { enabled: true, smtp: { host: '127.0.0.1', port: smtpPort }, to: ['oncall@hospital.example'] },
    },
  });
  daemons.push(d);
  const { stdout } = await run(process.execPath, [mainJs, 'demo', '--config', d.configFile, '--timeout', '60'], { cwd: repoRoot });
  const [bleed, clean] = stdout.split('\n\n').slice(1);
  expect(bleed).toMatch(/^phantom with a bleed: URGENT: suspected intracranial hemorrhage/);
  expect(bleed).toMatch(/any\s+probability 0\.\d{3}\s+threshold 0\.\d{3}\s+ABOVE/);
  expect(bleed).toMatch(/Demonstration model, not for clinical use\./);
  expect(bleed).toMatch(/KOS flag received/);
  expect(bleed).toMatch(/email: "\[URGENT\] Suspected intracranial hemorrhage \(AI triage\).*accession DEMO-BLEED"/);
  expect(clean).toMatch(/^phantom without a bleed: No intracranial hemorrhage above the operating thresholds/);
  expect(clean).not.toMatch(/KOS|email/);
}, 180_000);

test('demo says what to do when the node is not running', async () => {
  const [dicomPort, httpPort] = await freePorts(2);
  const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
  const dir = mkdtempSync(path.join((await import('node:os')).tmpdir(), 'ich-demo-'));
  try {
    const cfg = path.join(dir, 'c.yaml');
    writeFileSync(cfg, JSON.stringify({ dicom: { port: dicomPort }, http: { port: httpPort }, model: { path: 'm.onnx' }, storage: { dataDir: dir } }));
    const err = await run(process.execPath, [mainJs, 'demo', '--config', cfg]).catch((e: { stderr: string; code: number }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(/^DAEMON_NOT_RUNNING: .*\n {2}The node does not answer on its HTTP port/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
