import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import dimse from 'dcmjs-dimse';
import { InstanceStore, type InstanceRow } from '../../src/store/instances.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { compressFiles, compressionTransferSyntax, dcmsend, storescu, storeResponses, type Compression } from '../helpers/dcmtk.js';
import { dataSetOf, ExplicitVRLittleEndian, ImplicitVRLittleEndian, syntheticSeries, writeSlices, type Slice } from '../helpers/synthetic.js';

// Every sender and syntax the issue names, against one node: statuses, rows, and the stored
// data set bytes compared with the bytes of the file that was sent.

// dcmjs-dimse logs every PDU to the console otherwise.
dimse.log.setLevel('silent');

let daemon: TestDaemon;

beforeAll(async () => {
  daemon = await startDaemon();
});

afterAll(async () => {
  await daemon?.cleanup();
});

function rowsOf(seriesUid: string): InstanceRow[] {
  const db = daemon.openDb();
  try {
    return new InstanceStore(db).ofSeries(seriesUid);
  } finally {
    db.close();
  }
}

/**
 * The rows match the slices and each spool file holds exactly the data set that was sent
 * (`decode` undoes an encoding the sender applied on the way, such as deflate).
 */
function expectStored(slices: readonly Slice[], sentFiles: readonly string[], transferSyntax: string, callingAe: string, decode = (stored: Buffer) => stored): void {
  const rows = rowsOf(slices[0]!.seriesUid);
  expect(rows.map((r) => r.sopInstanceUid)).toEqual(slices.map((s) => s.sopInstanceUid));
  rows.forEach((row, i) => {
    const slice = slices[i]!;
    expect(row).toMatchObject({
      sopClassUid: slice.sopClassUid,
      studyUid: slice.studyUid,
      transferSyntax,
      callingAe,
      z: slice.imagePositionPatient[2],
      instanceNumber: slice.instanceNumber,
      skipReason: null,
    });
    // Classification may already have picked the instance up.
    expect(['received', 'classified']).toContain(row.state);
    const spool = path.join(daemon.dataDir, row.path);
    expect(decode(dataSetOf(readFileSync(spool))).equals(dataSetOf(readFileSync(sentFiles[i]!)))).toBe(true);
    expect(statSync(spool).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(spool)).mode & 0o777).toBe(0o700);
  });
}

/** Three small slices of a new series, written (and compressed) under a folder of their own. */
async function prepare(name: string, compression?: Compression, transferSyntax: string = ExplicitVRLittleEndian, specificCharacterSet?: string) {
  const slices = syntheticSeries({ slices: 3, transferSyntax: transferSyntax as typeof ExplicitVRLittleEndian, encoding: 'uint12', specificCharacterSet });
  const plain = writeSlices(path.join(daemon.dir, 'in', name), slices);
  const files = compression ? await compressFiles(plain, compression, path.join(daemon.dir, 'in', `${name}-${compression}`)) : plain;
  return { slices, files };
}

describe('storescu', () => {
  const cases: { name: string; compression?: Compression; ts?: string; args: string[] }[] = [
    { name: 'explicit VR LE', args: [] },
    // -xi: storescu would otherwise convert to the explicit syntax we prefer.
    { name: 'implicit VR LE', ts: ImplicitVRLittleEndian, args: ['-xi'] },
    { name: 'RLE', compression: 'rle', args: ['-xr'] },
    { name: 'JPEG lossless SV1', compression: 'jpeg-sv1', args: ['-xs'] },
    { name: 'JPEG-LS lossless', compression: 'jpegls', args: ['-xt'] },
  ];
  test.each(cases)('$name', async ({ name, compression, ts, args }) => {
    const { slices, files } = await prepare(`storescu-${name}`, compression, ts);
    const callingAe = 'STORESCU';
    const r = await storescu({ port: daemon.port, callingAe }, files, args);
    expect(r.code, r.output).toBe(0);
    expect(storeResponses(r.stderr).map((x) => x.status)).toEqual(['Success', 'Success', 'Success']);
    const expectedTs = compression ? compressionTransferSyntax[compression] : (ts ?? ExplicitVRLittleEndian);
    expectStored(slices, files, expectedTs, callingAe);
  });
});

test('storescu deflating on the way: stored as deflated explicit VR LE, inflating to the file sent', async () => {
  const { slices, files } = await prepare('storescu-deflate');
  const r = await storescu({ port: daemon.port, callingAe: 'STORESCU' }, files, ['-xd']);
  expect(r.code, r.output).toBe(0);
  expect(storeResponses(r.stderr).map((x) => x.status)).toEqual(['Success', 'Success', 'Success']);
  expectStored(slices, files, '1.2.840.10008.1.2.1.99', 'STORESCU', (stored) => inflateRawSync(stored));
});

describe('dcmsend', () => {
  // dcmsend proposes every uncompressed syntax for uncompressed files, so implicit VR files
  // arrive as explicit VR (our preference): storescu -xi above covers implicit VR.
  const cases: { name: string; compression?: Compression }[] = [
    { name: 'explicit VR LE' },
    { name: 'RLE', compression: 'rle' },
    { name: 'JPEG lossless SV1', compression: 'jpeg-sv1' },
    { name: 'JPEG lossless process 14, selection value 6', compression: 'jpeg-p14' },
    { name: 'JPEG-LS lossless', compression: 'jpegls' },
  ];
  test.each(cases)('$name', async ({ name, compression }) => {
    const { slices, files } = await prepare(`dcmsend-${name}`, compression);
    const callingAe = 'DCMSEND';
    const r = await dcmsend({ port: daemon.port, callingAe }, files);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/with status SUCCESS\s*: 3/);
    const expectedTs = compression ? compressionTransferSyntax[compression] : ExplicitVRLittleEndian;
    expectStored(slices, files, expectedTs, callingAe);
  });
});

describe('a sender offering JPEG-LS and explicit VR LE in one presentation context', () => {
  // A storescu profile with one context for CT Image Storage holding both syntaxes, as many
  // PACS propose them. storescu converts neither way between them: it sends an uncompressed
  // file, or a JPEG-LS one, only where the node accepted that syntax (else it fails).
  const profile = (dir: string) => {
    const file = path.join(dir, 'both.cfg');
    writeFileSync(file, [
      '[[TransferSyntaxes]]', '[Both]', 'TransferSyntax1 = JPEGLSLossless', 'TransferSyntax2 = LittleEndianExplicit',
      '[[PresentationContexts]]', '[Both]', 'PresentationContext1 = CTImageStorage\\Both',
      '[[Profiles]]', '[Both]', 'PresentationContexts = Both', '',
    ].join('\n'));
    return ['-xf', file, 'Both'];
  };

  test.each([
    { name: 'by default the node takes it uncompressed (decoding JPEG-LS costs ~10 ms a slice)', preferCompressed: false, compression: undefined, expected: ExplicitVRLittleEndian },
    { name: 'with dicom.preferCompressed it takes JPEG-LS', preferCompressed: true, compression: 'jpegls' as const, expected: compressionTransferSyntax.jpegls },
  ])('$name', async ({ name, preferCompressed, compression, expected }) => {
    const node = preferCompressed ? await startDaemon({ config: { dicom: { preferCompressed: true } } }) : daemon;
    try {
      const { slices, files } = await prepare(`both-${preferCompressed}`, compression);
      const r = await storescu({ port: node.port, callingAe: 'PACS' }, files, profile(path.dirname(files[0]!)));
      expect(r.code, r.output).toBe(0);
      expect(storeResponses(r.stderr).map((x) => x.status), name).toEqual(['Success', 'Success', 'Success']);
      const db = node.openDb();
      try {
        const rows = new InstanceStore(db).ofSeries(slices[0]!.seriesUid);
        expect(rows.map((row) => row.transferSyntax)).toEqual([expected, expected, expected]);
      } finally {
        db.close();
      }
    } finally {
      if (node !== daemon) await node.cleanup();
    }
  });
});

test('dcmjs-dimse client', async () => {
  // dcmjs writes every data set it sends as UTF-8: files that say so go out unchanged.
  const { slices, files } = await prepare('dcmjs-dimse', undefined, ExplicitVRLittleEndian, 'ISO_IR 192');
  const client = new dimse.Client();
  const statuses: number[] = [];
  for (const file of files) {
    const request = new dimse.requests.CStoreRequest(file);
    request.on('response', (response: dimse.responses.CStoreResponse) => statuses.push(response.getStatus()));
    client.addRequest(request);
  }
  await new Promise<void>((resolve, reject) => {
    client.on('networkError', reject);
    client.on('closed', () => resolve());
    client.send('127.0.0.1', daemon.port, 'DCMJS_DIMSE', daemon.aeTitle);
  });
  expect(statuses).toEqual([0, 0, 0]);
  expectStored(slices, files, ExplicitVRLittleEndian, 'DCMJS_DIMSE');
});

test('spool and data folders are for the owner only', () => {
  for (const dir of [daemon.dataDir, path.join(daemon.dataDir, 'spool'), path.join(daemon.dataDir, 'spool', 'incoming')]) {
    expect(statSync(dir).mode & 0o777, dir).toBe(0o700);
  }
});
