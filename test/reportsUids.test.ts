import { describe, expect, it } from 'vitest';
import { deviceUid, isValidUid, newUid } from '../src/reports/uids.js';

const sha = (c: string) => c.repeat(64);

describe('report UIDs', () => {
  it('derives UIDs from a UUID under 2.25 when no root is configured', () => {
    const uids = Array.from({ length: 200 }, () => newUid(''));
    for (const uid of uids) {
      expect(uid).toMatch(/^2\.25\.[1-9][0-9]*$/);
      expect(isValidUid(uid)).toBe(true);
      // A version 4 UUID: the version nibble survives the decimal round trip.
      const hex = BigInt(uid.slice(5)).toString(16).padStart(32, '0');
      expect(hex[12]).toBe('4');
    }
    expect(new Set(uids).size).toBe(uids.length);
  });

  it('fills a configured root up to 64 characters', () => {
    const root = '1.2.826.0.1.3680043.10.1234.567.89.1234567';
    const uid = newUid(root);
    expect(uid.startsWith(`${root}.`)).toBe(true);
    expect(uid.length).toBeLessThanOrEqual(64);
    expect(uid.length).toBeGreaterThan(root.length + 15);
    expect(isValidUid(uid)).toBe(true);
    expect(newUid(root)).not.toBe(uid);
  });

  it('gives the device a UID that is stable for a model and changes with it', () => {
    const a = deviceUid('', sha('a'));
    expect(deviceUid('', sha('a'))).toBe(a);
    expect(deviceUid('', sha('A'))).toBe(a);
    expect(deviceUid('', sha('b'))).not.toBe(a);
    expect(isValidUid(a)).toBe(true);
    expect(BigInt(a.slice(5)).toString(16).padStart(32, '0')[12]).toBe('8');
    const rooted = deviceUid('1.2.3', sha('a'));
    expect(rooted).toBe(deviceUid('1.2.3', sha('a')));
    expect(rooted.startsWith('1.2.3.')).toBe(true);
    expect(isValidUid(rooted)).toBe(true);
  });

  it('refuses a model hash that is not a sha256', () => {
    expect(() => deviceUid('', 'abc')).toThrow(/64 hex digits/);
  });

  it('tells valid UIDs from RSNA-style identifiers', () => {
    expect(isValidUid('1.2.840.10008.5.1.4.1.1.88.33')).toBe(true);
    expect(isValidUid('ID_4d28912ba6')).toBe(false);
    expect(isValidUid('1.02.3')).toBe(false);
    expect(isValidUid(`1.${'1'.repeat(63)}`)).toBe(false);
  });
});
