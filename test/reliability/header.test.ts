import { afterAll, beforeAll, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { readHeader, maxInflatedHeaderBytes } from '../../src/dicom/header.js';
import { decodePixels, initPixelDecoders } from '../../src/dicom/pixels.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { RawPeer } from '../helpers/rawPeer.js';
import { CtImageStorage, newUid } from '../helpers/synthetic.js';
import { ctHeader, element, part10 } from './elements.js';

// Reading an instance's header never takes memory in proportion to what a length field or a
// compressed stream claims: deflated data sets inflate within a bound, the scan stops once past
// the attributes it needs, and a header is read back from the spool file only up to 16 MiB.

const deflated = '1.2.840.10008.1.2.1.99';
const pixelData = (n: number) => element(0x7fe00010, 'OW', Buffer.alloc(n));

function uids() {
  return { sopInstanceUid: newUid(), seriesUid: newUid(), studyUid: newUid() };
}

test('the scan is complete once past the last attribute it reads: a 20 MiB private element after them is never needed', () => {
  const u = uids();
  const big = element(0x00291010, 'OB', Buffer.alloc(0), 20 * 1024 * 1024);
  // Only the element's header is present, as in the 16 KiB kept while streaming.
  const parsed = readHeader(part10(Buffer.concat([ctHeader({ ...u, after: [big] })]), u.sopInstanceUid));
  expect(parsed.complete).toBe(true);
  expect(parsed.header).toMatchObject({ sopInstanceUid: u.sopInstanceUid, seriesUid: u.seriesUid, studyUid: u.studyUid, modality: 'CT' });
});

test('a deflated data set is inflated within a bound: a prefix inflates to a prefix, a bomb is refused', () => {
  const u = uids();
  // Noise does not compress: the deflated stream is ~64 KiB, of which the first 16 KiB (what the
  // receiver keeps while streaming) hold the header.
  const plain = Buffer.concat([ctHeader(u), element(0x7fe00010, 'OW', randomBytes(64 * 1024))]);
  const stream = deflateRawSync(plain);
  const file = part10(stream, u.sopInstanceUid, deflated);
  expect(readHeader(file)).toMatchObject({ complete: true, transferSyntaxUid: deflated, header: { seriesUid: u.seriesUid } });
  const prefix = readHeader(file.subarray(0, file.length - stream.length + 16 * 1024));
  expect(prefix).toMatchObject({ complete: true, header: { studyUid: u.studyUid } });

  // 80 MiB of zeros in a private element before the UIDs deflate to ~80 KiB.
  const bomb = Buffer.concat([ctHeader({ ...u, before: [element(0x00091010, 'OB', Buffer.alloc(80 * 1024 * 1024))] }), pixelData(512)]);
  const bombFile = part10(deflateRawSync(bomb, { level: 9 }), u.sopInstanceUid, deflated);
  expect(bombFile.length).toBeLessThan(200 * 1024);
  expect(() => readHeader(bombFile)).toThrow(`the deflated data set cannot be inflated within ${maxInflatedHeaderBytes} bytes`);
});

/**
 * A private sequence as a PACS that does not know it forwards it: VR UN, undefined length,
 * implicit VR inside (PS3.5 6.2.2). Read as explicit VR, its inner element's length bytes
 * (02 00) would be taken for a VR.
 */
function unknownSequence(): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16LE(0x0009, 0);
  head.writeUInt16LE(0x1010, 2);
  head.write('UN', 4, 'latin1');
  head.writeUInt32LE(0xffffffff, 8);
  const implicit = (group: number, elementNumber: number, value: Buffer) => {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(group, 0);
    b.writeUInt16LE(elementNumber, 2);
    b.writeUInt32LE(value.length, 4);
    return Buffer.concat([b, value]);
  };
  const delimiter = (elementNumber: number) => implicit(0xfffe, elementNumber, Buffer.alloc(0));
  const inner = Buffer.concat([implicit(0x0009, 0x1011, Buffer.from('AB')), implicit(0x0009, 0x1012, Buffer.from('CDEF'))]);
  const item = Buffer.concat([implicit(0xfffe, 0xe000, Buffer.alloc(0)), inner, delimiter(0xe00d)]);
  item.writeUInt32LE(0xffffffff, 4);
  return Buffer.concat([element(0x00090010, 'LO', 'ACME PRIVATE'), head, item, delimiter(0xe0dd)]);
}

test('a private sequence sent as UN of undefined length (implicit VR inside) is skipped: header and pixel module are read', async () => {
  const u = uids();
  const file = part10(Buffer.concat([ctHeader({ ...u, before: [unknownSequence()] }), pixelData(16 * 16 * 2)]), u.sopInstanceUid);
  expect(readHeader(file)).toMatchObject({ complete: true, header: { sopInstanceUid: u.sopInstanceUid, seriesUid: u.seriesUid, studyUid: u.studyUid } });
  await initPixelDecoders();
  const frame = await decodePixels(file);
  expect([frame.rows, frame.columns, frame.bitsStored, frame.rescaleIntercept]).toEqual([16, 16, 16, -1024]);
});

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.cleanup();
});

test('through the SCP: a deflate bomb gets 0xC000, a header beyond 16 MiB gets 0xC000, a 20 MiB element after the header is stored; RSS stays bounded', async () => {
  const peer = await RawPeer.connect(daemon.port);
  const contexts = [
    { id: 1, abstractSyntax: CtImageStorage, transferSyntaxes: [deflated] },
    { id: 3, abstractSyntax: CtImageStorage, transferSyntaxes: ['1.2.840.10008.1.2.1'] },
  ];
  const association = await peer.associate(daemon.aeTitle, 'HEADER_TEST', contexts);
  expect(association.contexts.map((c) => c.result)).toEqual([0, 0]);
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${daemon.process.pid}/status`, 'utf8'))![1]) * 1024;
  const before = rss();

  const bomb = uids();
  const bombSet = deflateRawSync(Buffer.concat([ctHeader({ ...bomb, before: [element(0x00091010, 'OB', Buffer.alloc(200 * 1024 * 1024))] }), pixelData(512)]), { level: 9 });
  const r1 = await peer.cStore(1, CtImageStorage, bomb.sopInstanceUid, bombSet, 65536);
  expect(r1.status).toBe(0xc000);
  expect(r1.errorComment).toMatch(/^unreadable data set: the deflated data set cannot be inflated/);

  const long = uids();
  const longSet = Buffer.concat([ctHeader({ ...long, before: [element(0x00091010, 'OB', Buffer.alloc(17 * 1024 * 1024))] }), pixelData(512)]);
  const r2 = await peer.cStore(3, CtImageStorage, long.sopInstanceUid, longSet, 65536);
  expect(r2.status).toBe(0xc000);
  // The response's ErrorComment holds 64 characters; the log line has the whole reason.
  expect(r2.errorComment).toMatch(/^unreadable data set: the attributes the node reads are not/);
  await daemon.waitForLog((l) => l.msg === 'instance refused' && l.sop === long.sopInstanceUid && l.reason === 'unreadable data set: the attributes the node reads are not within the first 16 MiB');

  const after = uids();
  const afterSet = Buffer.concat([ctHeader({ ...after, after: [element(0x00291010, 'OB', Buffer.alloc(20 * 1024 * 1024))] }), pixelData(512)]);
  const r3 = await peer.cStore(3, CtImageStorage, after.sopInstanceUid, afterSet, 65536);
  expect(r3.status).toBe(0);
  expect(await peer.release()).toBe(true);

  const grown = rss() - before;
  console.log(`header bounds: daemon RSS ${(before / 2 ** 20).toFixed(0)} MiB before, ${((before + grown) / 2 ** 20).toFixed(0)} MiB after a 200 MiB deflate bomb, a 17 MiB header and a 20 MiB private element`);
  // Far below the 200 MiB the bomb inflates to (dcmjs inflated it whole before).
  expect(grown).toBeLessThan(120 * 2 ** 20);
  await daemon.waitForLog((l) => l.msg === 'instance refused' && l.sop === bomb.sopInstanceUid);
}, 120_000);

test('a file meta group length that is wrong does not mislead the header: the group is walked to its end, as for pixel decoding', () => {
  const u = uids();
  const file = part10(ctHeader(u), u.sopInstanceUid);
  for (const error of [-6, 8]) {
    const wrong = Buffer.from(file);
    wrong.writeUInt32LE(file.readUInt32LE(140) + error, 140);
    const parsed = readHeader(wrong);
    expect(parsed.complete).toBe(true);
    expect(parsed.header).toMatchObject({ sopInstanceUid: u.sopInstanceUid, seriesUid: u.seriesUid, studyUid: u.studyUid, modality: 'CT' });
  }
});
