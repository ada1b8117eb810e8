import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../helpers/daemon.js';

// The systemd unit and the install script, as hospital IT would use them.

const run = promisify(execFile);
const unit = path.join(repoRoot, 'systemd/ich-triage.service');

describe('systemd unit', () => {
  it('passes systemd-analyze verify', async () => {
    const { stdout, stderr } = await run('systemd-analyze', ['verify', unit]);
    expect(stdout + stderr).toBe('');
  });

  it('runs serve as a dedicated user with the hardening the issue asks for', () => {
    const text = readFileSync(unit, 'utf8');
    const directives = new Map(text.split('\n').filter((l) => /^[A-Z]\w+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(directives.get('ExecStart')).toBe('/usr/bin/node /opt/ich-triage/dist/cli/main.js serve --config /etc/ich-triage/ich-triage.yaml');
    expect(directives.get('ExecStartPost')).toMatch(/wait-ready --config \/etc\/ich-triage\/ich-triage\.yaml/);
    expect(directives.get('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(directives.get('User')).toBe('ich-triage');
    expect(directives.get('Restart')).toBe('on-failure');
    expect(directives.get('RestartPreventExitStatus')).toBe('78');
    expect(directives.get('ProtectSystem')).toBe('strict');
    expect(directives.get('ReadWritePaths')).toBe('/var/lib/ich-triage');
    expect(directives.get('ProtectHome')).toBe('true');
    expect(directives.get('PrivateTmp')).toBe('true');
    expect(directives.get('NoNewPrivileges')).toBe('true');
    expect(directives.get('RestrictAddressFamilies')).toBe('AF_INET AF_INET6 AF_UNIX');
    expect(directives.get('CapabilityBoundingSet')).toBe('');
    expect(directives.get('UMask')).toBe('0077');
  });
});

const asRoot = process.getuid?.() === 0;
describe.skipIf(!asRoot)('tools/install.sh (into a temporary root)', () => {
  it('installs program, config, data dir and unit; keeps the config on upgrade; uninstalls', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'ich-install-'));
    const env = {
      ...process.env,
      ICH_PREFIX: path.join(root, 'opt'),
      ICH_ETC: path.join(root, 'etc'),
      ICH_DATA: path.join(root, 'data'),
      ICH_UNIT_DIR: path.join(root, 'units'),
      ICH_USER: 'nobody',
      ICH_NO_SYSTEMD: '1',
    };
    try {
      const first = await run(path.join(repoRoot, 'tools/install.sh'), ['--no-start'], { env, maxBuffer: 1 << 24 });
      expect(first.stdout).toMatch(/wrote .*ich-triage\.yaml/);
      expect(existsSync(path.join(root, 'opt/dist/cli/main.js'))).toBe(true);
      expect(existsSync(path.join(root, 'opt/node_modules/vitest'))).toBe(false);
      const config = readFileSync(path.join(root, 'etc/ich-triage.yaml'), 'utf8');
      expect(config).toContain(`dataDir: ${path.join(root, 'data')}`);
      expect(statSync(path.join(root, 'etc/ich-triage.yaml')).mode & 0o777).toBe(0o640);
      expect(statSync(path.join(root, 'data')).mode & 0o777).toBe(0o700);
      const installedUnit = readFileSync(path.join(root, 'units/ich-triage.service'), 'utf8');
      expect(installedUnit).toContain(`ExecStart=/usr/bin/node ${path.join(root, 'opt')}/dist/cli/main.js serve --config ${path.join(root, 'etc')}/ich-triage.yaml`);
      expect(existsSync(path.join(root, 'units/ich-triage.service.d/low-port.conf'))).toBe(false);
      // The installed program reads its config.
      const check = await run(process.execPath, [path.join(root, 'opt/dist/cli/main.js'), 'check-config', '--config', path.join(root, 'etc/ich-triage.yaml')]);
      expect(check.stdout).toMatch(/: ok/);

      // Upgrade: the hospital's edits survive.
      const edited = config.replace('aeTitle: ICH_TRIAGE ', 'aeTitle: HOSPITAL_AI ');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(path.join(root, 'etc/ich-triage.yaml'), edited);
      const second = await run(path.join(repoRoot, 'tools/install.sh'), ['--no-start'], { env, maxBuffer: 1 << 24 });
      expect(second.stdout).not.toMatch(/wrote/);
      expect(readFileSync(path.join(root, 'etc/ich-triage.yaml'), 'utf8')).toContain('aeTitle: HOSPITAL_AI');

      await run(path.join(repoRoot, 'tools/install.sh'), ['--uninstall'], { env });
      expect(existsSync(path.join(root, 'opt'))).toBe(false);
      expect(existsSync(path.join(root, 'units/ich-triage.service'))).toBe(false);
      expect(existsSync(path.join(root, 'etc/ich-triage.yaml'))).toBe(true);
      expect(existsSync(path.join(root, 'data'))).toBe(true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 300_000);
});
if (!asRoot) console.warn('skipped: install script test needs root');
