import { createHash, randomBytes } from 'node:crypto';

/** PS3.5 9.1: at most 64 characters, numeric components without leading zeros. */
const uidPattern = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$/;
const maxUidLength = 64;

export function isValidUid(uid: string): boolean {
  return uid.length <= maxUidLength && uidPattern.test(uid);
}

/**
 * A new UID for an object we create. An empty root gives `2.25.` + a random (version 4) UUID as
 * one decimal integer (PS3.5 B.2). Under a configured root the suffix is the decimal form of
 * 128 random bits, cut to the room left by the root (a root of 40 characters keeps 23 digits,
 * about 76 bits: collisions stay negligible).
 */
export function newUid(root: string): string {
  const bytes = randomBytes(16);
  return root === '' ? uuidUid(withUuidVersion(bytes, 4)) : underRoot(root, bytes);
}

/**
 * The UID of the AI device as it is now: derived from the model file's sha256, so it is stable
 * across restarts and changes exactly when the model changes (a PACS can tell results of
 * different models apart). An empty root gives a name-based version 8 UUID (RFC 9562 B.2,
 * SHA-256) under `2.25.`.
 */
export function deviceUid(root: string, modelSha256: string): string {
  if (!/^[0-9a-f]{64}$/i.test(modelSha256)) throw new Error(`model sha256 must be 64 hex digits, got "${modelSha256}"`);
  const bytes = createHash('sha256').update(`ich-triage device ${modelSha256.toLowerCase()}`).digest().subarray(0, 16);
  return root === '' ? uuidUid(withUuidVersion(bytes, 8)) : underRoot(root, bytes);
}

/** Sets the RFC 9562 version nibble and the 10xx variant bits. */
function withUuidVersion(bytes: Buffer, version: number): Buffer {
  const b = Buffer.from(bytes);
  b[6] = (b[6]! & 0x0f) | (version << 4);
  b[8] = (b[8]! & 0x3f) | 0x80;
  return b;
}

function uuidUid(uuid: Buffer): string {
  return `2.25.${BigInt(`0x${uuid.toString('hex')}`).toString()}`;
}

function underRoot(root: string, bytes: Buffer): string {
  const room = maxUidLength - root.length - 1;
  if (room < 1) throw new Error(`UID root "${root}" leaves no room for a suffix`);
  // A prefix of a decimal integer never starts with 0 unless the integer is 0 itself.
  const suffix = BigInt(`0x${bytes.toString('hex')}`).toString().slice(0, room);
  return `${root}.${suffix}`;
}
