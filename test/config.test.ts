import { afterAll, describe, expect, test } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { IchError } from '../src/errors.js';
import { mainJs, repoRoot } from './helpers/daemon.js';
import { runTool } from './helpers/dcmtk.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ich-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = path.join(dir, 'etc', 'ich-triage.yaml');

function configError(text: string): IchError {
  try {
    parseConfig(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(IchError);
    return err as IchError;
  }
  throw new Error('the config was accepted');
}

describe('parseConfig', () => {
  test('fills defaults, resolves relative paths against the file folder, and freezes', () => {
    const c = parseConfig('model:\n  path: ../models/m.onnx\nstorage:\n  dataDir: var\n', file);
    expect(c.model.path).toBe(path.join(dir, 'models', 'm.onnx'));
    expect(c.storage.dataDir).toBe(path.join(dir, 'etc', 'var'));
    expect(c.dicom).toMatchObject({ aeTitle: 'ICH_TRIAGE', port: 11112, maxAssociations: 16, allowedCallingAeTitles: [] });
    expect(c.storage.durability).toBe('write');
    expect(Object.isFrozen(c.dicom)).toBe(true);
  });

  test('the shipped example config is valid', () => {
    const example = path.join(repoRoot, 'config', 'ich-triage.example.yaml');
    expect(parseConfig(readFileSync(example, 'utf8'), example).dicom.aeTitle).toBe('ICH_TRIAGE');
  });

  const bad: [string, string, RegExp][] = [
    ['a port out of range', 'model: {path: m.onnx}\ndicom:\n  port: 70000\n', /key "dicom\.port": .*65535/],
    ['a misspelt key', 'model: {path: m.onnx}\ndicom:\n  aeTitel: X\n', /key "dicom\.aeTitel": unknown key/],
    ['an AE title over 16 characters', 'model: {path: m.onnx}\ndicom:\n  aeTitle: ABCDEFGHIJKLMNOPQ\n', /key "dicom\.aeTitle": /],
    ['a calling AE title with a backslash', 'model: {path: m.onnx}\ndicom:\n  allowedCallingAeTitles: ["A\\\\B"]\n', /key "dicom\.allowedCallingAeTitles\.0": .*backslash/],
    ['an unknown durability', 'model: {path: m.onnx}\nstorage:\n  durability: maybe\n', /key "storage\.durability": /],
    ['a missing model', 'dicom:\n  port: 104\n', /key "model": /],
    ['a YAML syntax error', 'model:\n  path: [unclosed\n', /YAML syntax error at line \d+/],
  ];
  test.each(bad)('%s: the error names the file, the key and the reason', (_name, text, reason) => {
    const err = configError(text);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain(file);
    expect(err.message).toMatch(reason);
  });
});

describe('ich-triage check-config', () => {
  const good = path.join(dir, 'good.yaml');
  const broken = path.join(dir, 'broken.yaml');
  writeFileSync(good, 'model:\n  path: m.onnx\n');
  writeFileSync(broken, 'model:\n  path: m.onnx\nhttp:\n  port: -1\n');

  test('a valid file: exit 0', async () => {
    const r = await runTool(process.execPath, [mainJs, 'check-config', '--config', good]);
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toBe(`${good}: ok\n`);
  });

  test('ICH_TRIAGE_CONFIG names the file when --config does not', async () => {
    const r = await runTool(process.execPath, [mainJs, 'check-config'], { env: { ICH_TRIAGE_CONFIG: broken } });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`${broken}: key "http.port"`);
  });

  test('an invalid file: exit 78 (EX_CONFIG), file and key on stderr', async () => {
    const r = await runTool(process.execPath, [mainJs, 'check-config', '--config', broken]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('CONFIG_INVALID');
    expect(r.stderr).toContain(`${broken}: key "http.port"`);
  });

  test('a missing file: exit 78', async () => {
    const r = await runTool(process.execPath, [mainJs, 'check-config', '--config', path.join(dir, 'absent.yaml')]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('CONFIG_NOT_FOUND');
  });

  test('serve refuses a bad config with the same message and exit 78', async () => {
    const r = await runTool(process.execPath, [mainJs, 'serve', '--config', broken], { timeoutMs: 20_000 });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`${broken}: key "http.port"`);
  });
});
