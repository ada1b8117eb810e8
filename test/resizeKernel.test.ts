// The resize kernel runs from the bytes in src/imaging/resizeKernelBinary.ts; they must be
// what src/imaging/resize.wat assembles to, or a change to the .wat would never run.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const repoRoot = path.resolve(import.meta.dirname, '..');

describe('resize kernel', () => {
  it('the embedded module is resize.wat assembled (tools/wasm/build.mjs --check)', () => {
    const run = () => execFileSync(process.execPath, ['tools/wasm/build.mjs', '--check'], { cwd: repoRoot, stdio: 'pipe', timeout: 60_000 });
    expect(run).not.toThrow();
  });
});
