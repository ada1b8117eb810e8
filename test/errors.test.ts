import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { errorCatalogue, IchError } from '../src/errors.js';

describe('error catalogue', () => {
  const doc = readFileSync('docs/errors.md', 'utf8');
  it('documents every code, and nothing else', () => {
    const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(errorCatalogue).sort());
  });
  it('gives every code a sentence that says what to do', () => {
    for (const [code, hint] of Object.entries(errorCatalogue)) {
      expect(hint, code).toMatch(/^[A-Z].{20,}\.$/);
    }
    const e = new IchError('MODEL_NOT_FOUND', '/x.onnx: ENOENT');
    expect(e.describe()).toBe(`MODEL_NOT_FOUND: /x.onnx: ENOENT\n  ${errorCatalogue.MODEL_NOT_FOUND}`);
  });
});
