// Deterministic malformed inputs for the fuzz test: whole byte streams for a fresh connection (PDU level) and C-STORE data sets (data-set level), each named by the kind of damage.
import { deflateRawSync } from 'node:zlib';
import { readImageDataset } from '../../src/dicom/imageDataset.js';
import { associateRq, cEchoRq, commandSet, cStoreRq, pDataTf, releaseRq, abortPdu, VerificationSopClass } from '../helpers/rawPeer.js';
import { CtImageStorage, ExplicitVRLittleEndian, newUid } from '../helpers/synthetic.js';
import { ctHeader, element } from './elements.js';
import { randomBytesFrom, randomInt } from './random.js';

type Random = () => number;

export const TransferSyntaxes = {
  explicit: ExplicitVRLittleEndian,
  implicit: '1.2.840.10008.1.2',
  jpegLs: '1.2.840.10008.1.2.4.80',
  rle: '1.2.840.10008.1.2.5',
  deflated: '1.2.840.10008.1.2.1.99',
} as const;
export type SyntaxName = keyof typeof TransferSyntaxes;

/** One presentation context per syntax, all CT Image Storage, plus Verification. */
export const fuzzContexts = [
  ...(Object.keys(TransferSyntaxes) as SyntaxName[]).map((name, i) => ({ id: 1 + 2 * i, abstractSyntax: CtImageStorage, transferSyntaxes: [TransferSyntaxes[name]] })),
  { id: 15, abstractSyntax: VerificationSopClass, transferSyntaxes: [ExplicitVRLittleEndian] },
];
export const contextOf = (name: SyntaxName) => fuzzContexts.find((c) => c.transferSyntaxes[0] === TransferSyntaxes[name])!.id;

export interface PduInput {
  kind: string;
  /** Run A-ASSOCIATE-RQ/AC (all of fuzzContexts) before sending `bytes`. */
  associateFirst: boolean;
  bytes: Buffer;
}

export interface DataSetInput {
  kind: string;
  syntax: SyntaxName;
  sopInstanceUid: string;
  dataSet: Buffer;
  /** The damage can be harmless (a flipped bit a codec tolerates): classification may succeed. */
  mayBeValid: boolean;
}

/** Real compressed codestreams of a 64x64 slice, made once by dcmtk (see the test). */
export interface Codestreams {
  jpegLs: Buffer;
  rle: Buffer;
}

/** The first fragment of a Part 10 file's encapsulated pixel data. */
export function firstFragment(file: Buffer): Buffer {
  const { pixelData } = readImageDataset(file);
  if (!pixelData?.encapsulated) throw new Error('not encapsulated');
  return Buffer.from(pixelData.fragments[0]!.bytes);
}

// ---------------------------------------------------------------------------------------------
// PDU level: each input on its own connection.

const nodeAe = 'ICH_TRIAGE';

function rq(calledAe = nodeAe): Buffer {
  return associateRq(calledAe, 'FUZZER', fuzzContexts);
}

function pdu(type: number, body: Buffer, declared = body.length): Buffer {
  const head = Buffer.alloc(6);
  head[0] = type;
  head.writeUInt32BE(declared >>> 0, 2);
  return Buffer.concat([head, body]);
}

function flip(random: Random, bytes: Buffer, count: number, from = 0): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < count; i++) out[randomInt(random, from, out.length - 1)] = Math.floor(random() * 256);
  return out;
}

/** A P-DATA-TF with one PDV whose item length is `itemLength` (the value is what it is). */
function pdvWithLength(contextId: number, control: number, value: Buffer, itemLength: number): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt32BE(itemLength >>> 0, 0);
  head[4] = contextId;
  head[5] = control;
  return pdu(0x04, Buffer.concat([head, value]));
}

const pduGenerators: Array<[string, boolean, (r: Random) => Buffer]> = [
  ['non-DICOM random bytes', false, (r) => randomBytesFrom(r, randomInt(r, 1, 4096))],
  ['non-DICOM text (HTTP request)', false, (r) => Buffer.from(`GET /${randomInt(r, 0, 1e6)} HTTP/1.1\r\nHost: node\r\n\r\n`)],
  ['truncated A-ASSOCIATE-RQ', false, (r) => {
    const b = rq();
    return b.subarray(0, randomInt(r, 1, b.length - 1));
  }],
  ['A-ASSOCIATE-RQ with a PDU length too large', false, (r) => {
    const b = rq();
    return pdu(0x01, b.subarray(6), b.length - 6 + randomInt(r, 1, 5000));
  }],
  ['A-ASSOCIATE-RQ with a PDU length too small', false, (r) => {
    const b = rq();
    return pdu(0x01, b.subarray(6), randomInt(r, 0, b.length - 7));
  }],
  ['A-ASSOCIATE-RQ with an item length corrupted', false, (r) => {
    const b = Buffer.from(rq());
    // Item headers start after the 6-byte PDU header and the 68-byte fixed part.
    const offsets: number[] = [];
    for (let o = 74; o + 4 <= b.length; o += 4 + b.readUInt16BE(o + 2)) offsets.push(o);
    b.writeUInt16BE(randomInt(r, 0, 0xffff), offsets[randomInt(r, 0, offsets.length - 1)]! + 2);
    return b;
  }],
  ['A-ASSOCIATE-RQ with random bytes flipped', false, (r) => flip(r, rq(), randomInt(r, 1, 8), 6)],
  ['A-ASSOCIATE-RQ calling another AE title', false, (r) => rq(`NOT_US_${randomInt(r, 0, 999)}`)],
  ['A-ASSOCIATE-RQ of protocol version 2', false, () => {
    const b = Buffer.from(rq());
    b.writeUInt16BE(2, 6);
    return b;
  }],
  ['PDU declaring a huge length', false, (r) => pdu(randomInt(r, 1, 7), randomBytesFrom(r, randomInt(r, 0, 64)), randomInt(r, 4 * 1024 * 1024 + 1, 0xffffffff))],
  ['unknown PDU type', false, (r) => pdu([0x00, 0x08, 0x09, 0x10, 0x47, 0x80, 0xff][randomInt(r, 0, 6)]!, randomBytesFrom(r, randomInt(r, 0, 200)))],
  ['A-RELEASE-RQ before any association', false, () => releaseRq()],
  ['A-ABORT before any association', false, () => abortPdu()],
  ['A-ASSOCIATE-AC sent to the SCP', false, (r) => pdu(0x02, randomBytesFrom(r, randomInt(r, 68, 300)))],
  ['C-ECHO before any association', false, () => pDataTf([{ contextId: 1, control: 0x03, value: cEchoRq(1) }])],
  ['second A-ASSOCIATE-RQ inside an association', true, () => rq()],
  ['PDV item length beyond its PDU', true, (r) => pdvWithLength(1, 0x03, cStoreRq(1, CtImageStorage, newUid()), randomInt(r, 200, 0xffffffff))],
  ['PDV item length under 2', true, (r) => pdvWithLength(1, 0x03, Buffer.alloc(0), randomInt(r, 0, 1))],
  ['data set fragment without a command', true, (r) => pDataTf([{ contextId: 1, control: 0x02, value: randomBytesFrom(r, randomInt(r, 1, 2000)) }])],
  ['command set over 64 KiB', true, (r) => pDataTf([{ contextId: 1, control: 0x03, value: randomBytesFrom(r, 65 * 1024 + randomInt(r, 0, 1000)) }])],
  ['command element overrunning the command set', true, (r) => {
    const c = Buffer.from(cStoreRq(1, CtImageStorage, newUid()));
    c.writeUInt32LE(randomInt(r, c.length, 0xffffffff), 8);
    return pDataTf([{ contextId: 1, control: 0x03, value: c }]);
  }],
  ['command element outside group 0000', true, () => pDataTf([{ contextId: 1, control: 0x03, value: Buffer.concat([cStoreRq(1, CtImageStorage, newUid()), element(0x00080018, 'UI', newUid()).subarray(0, 8)]) }])],
  ['C-STORE on a presentation context never proposed', true, (r) => pDataTf([{ contextId: 2 * randomInt(r, 9, 120) + 1, control: 0x03, value: cStoreRq(1, CtImageStorage, newUid()) }])],
  ['command in the middle of a data set', true, (r) => Buffer.concat([
    pDataTf([{ contextId: 1, control: 0x03, value: cStoreRq(1, CtImageStorage, newUid()) }]),
    pDataTf([{ contextId: 1, control: 0x00, value: randomBytesFrom(r, 100) }]),
    pDataTf([{ contextId: 1, control: 0x03, value: cStoreRq(2, CtImageStorage, newUid()) }]),
  ])],
  ['data set cut off by the peer closing', true, (r) => Buffer.concat([
    pDataTf([{ contextId: 1, control: 0x03, value: cStoreRq(1, CtImageStorage, newUid()) }]),
    pDataTf([{ contextId: 1, control: 0x00, value: randomBytesFrom(r, randomInt(r, 1, 3000)) }]),
  ])],
  ['P-DATA-TF cut off inside a PDV', true, (r) => {
    const b = pDataTf([{ contextId: 1, control: 0x03, value: cStoreRq(1, CtImageStorage, newUid()) }]);
    return b.subarray(0, randomInt(r, 1, b.length - 1));
  }],
  ['random bytes inside an association', true, (r) => randomBytesFrom(r, randomInt(r, 1, 8192))],
  ['unknown command field', true, (r) => pDataTf([{ contextId: 15, control: 0x03, value: commandSet([[0x0002, { ui: VerificationSopClass }], [0x0100, { us: randomInt(r, 0x0f00, 0x7fff) }], [0x0110, { us: 1 }], [0x0800, { us: 0x0101 }]]) }])],
];

/** `count` PDU-level inputs, the generators taken in turn. */
export function pduInputs(random: Random, count: number): PduInput[] {
  return Array.from({ length: count }, (_, i) => {
    const [kind, associateFirst, make] = pduGenerators[i % pduGenerators.length]!;
    return { kind, associateFirst, bytes: make(random) };
  });
}

// ---------------------------------------------------------------------------------------------
// Data-set level: many C-STOREs in one association, each answered.

const item = (value: Buffer, tag = 0xfffee000) => {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(tag >>> 16, 0);
  head.writeUInt16LE(tag & 0xffff, 2);
  head.writeUInt32LE(value.length, 4);
  return Buffer.concat([head, value]);
};
const undefinedLength = 0xffffffff;

/** Encapsulated pixel data (PS3.5 A.4): an empty offset table, the fragments, the delimiter. */
function encapsulated(fragments: Buffer[]): Buffer {
  const head = element(0x7fe00010, 'OB', Buffer.alloc(0), undefinedLength);
  return Buffer.concat([head, item(Buffer.alloc(0)), ...fragments.map((f) => item(f)), item(Buffer.alloc(0), 0xfffee0dd)]);
}

function uids() {
  return { sopInstanceUid: newUid(), seriesUid: newUid(), studyUid: newUid() };
}

/** Offsets of the top-level elements of an explicit VR LE data set (no sequences in ours). */
function elementOffsets(dataSet: Buffer): number[] {
  const out: number[] = [];
  for (let o = 0; o + 8 <= dataSet.length; ) {
    out.push(o);
    const vr = dataSet.toString('latin1', o + 4, o + 6);
    const long = ['OB', 'OW', 'SQ', 'UN', 'UT'].includes(vr);
    const length = long ? dataSet.readUInt32LE(o + 8) : dataSet.readUInt16LE(o + 6);
    if (length === undefinedLength) break;
    o += (long ? 12 : 8) + length;
  }
  return out;
}

function nativeSlice(u: ReturnType<typeof uids>, rows = 16, columns = 16, extra: Partial<Parameters<typeof ctHeader>[0]> = {}): Buffer {
  return Buffer.concat([ctHeader({ ...u, rows, columns, ...extra }), element(0x7fe00010, 'OW', Buffer.alloc(rows * columns * 2, 0x11))]);
}

/** Replaces a US element's value in a header built by ctHeader. */
function withUs(u: ReturnType<typeof uids>, tag: number, value: number): Buffer {
  const header = ctHeader({ ...u });
  const needle = Buffer.alloc(4);
  needle.writeUInt16LE(tag >>> 16, 0);
  needle.writeUInt16LE(tag & 0xffff, 2);
  const at = header.indexOf(needle);
  const out = Buffer.from(header);
  out.writeUInt16LE(value, at + 8);
  return Buffer.concat([out, element(0x7fe00010, 'OW', Buffer.alloc(16 * 16 * 2))]);
}

type DataSetGenerator = [string, SyntaxName, boolean, (r: Random, u: ReturnType<typeof uids>, c: Codestreams) => Buffer];

const dataSetGenerators: DataSetGenerator[] = [
  ['data set truncated', 'explicit', false, (r, u) => {
    const b = nativeSlice(u);
    return b.subarray(0, randomInt(r, 1, b.length - 2));
  }],
  ['bad VR', 'explicit', false, (r, u) => {
    const b = Buffer.from(nativeSlice(u));
    const offsets = elementOffsets(b);
    const at = offsets[randomInt(r, 0, offsets.length - 1)]!;
    b[at + 4] = [0x00, 0x3f, 0x61, 0xff][randomInt(r, 0, 3)]!;
    return b;
  }],
  ['huge declared element length', 'explicit', false, (r, u) => {
    const b = Buffer.from(nativeSlice(u));
    const offsets = elementOffsets(b);
    const at = offsets[randomInt(r, 0, offsets.length - 1)]!;
    const vr = b.toString('latin1', at + 4, at + 6);
    if (vr === 'OW' || vr === 'OB') b.writeUInt32LE(randomInt(r, b.length, 0xfffffffe), at + 8);
    else b.writeUInt16LE(randomInt(r, b.length - at, 0xffff), at + 6);
    return b;
  }],
  ['wrong pixel count', 'explicit', false, (r, u) => {
    const rows = randomInt(r, 8, 64);
    const wrong = rows * rows * 2 + (r() < 0.5 ? -2 * randomInt(r, 1, rows) : 2 * randomInt(r, 1, rows));
    return Buffer.concat([ctHeader({ ...u, rows, columns: rows }), element(0x7fe00010, 'OW', Buffer.alloc(Math.max(0, wrong)))]);
  }],
  ['dimensions far beyond the pixel data', 'explicit', false, (r, u) => Buffer.concat([ctHeader({ ...u, rows: randomInt(r, 4097, 65535), columns: randomInt(r, 4097, 65535) }), element(0x7fe00010, 'OW', Buffer.alloc(512))])],
  ['unsupported BitsAllocated', 'explicit', false, (r, u) => withUs(u, 0x00280100, [0, 1, 12, 24, 32, 64][randomInt(r, 0, 5)]!)],
  ['BitsStored beyond BitsAllocated', 'explicit', false, (r, u) => withUs(u, 0x00280101, randomInt(r, 17, 0xffff))],
  ['colour samples', 'explicit', false, (r, u) => withUs(u, 0x00280002, randomInt(r, 2, 4))],
  ['zero rows', 'explicit', false, (_r, u) => withUs(u, 0x00280010, 0)],
  ['RescaleIntercept not a number', 'explicit', false, (r, u) => {
    const bad = ['abc', '1e', '--1', '0x1f', '1.2.3'][randomInt(r, 0, 4)]!.padEnd(6, ' ');
    return Buffer.from(nativeSlice(u).toString('latin1').replace('-1024 ', bad), 'latin1');
  }],
  ['no pixel data', 'explicit', false, (_r, u) => ctHeader({ ...u })],
  ['missing Study Instance UID', 'explicit', false, (_r, u) => Buffer.from(nativeSlice(u).toString('latin1').replace(u.studyUid, ''.padEnd(u.studyUid.length, '\0')), 'latin1')],
  ['non-DICOM bytes as the data set', 'explicit', false, (r) => randomBytesFrom(r, randomInt(r, 1, 20_000))],
  ['sequences nested 40 deep', 'explicit', false, (_r, u) => {
    const itemOfUndefinedLength = Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff]);
    let inner = Buffer.alloc(0);
    for (let d = 0; d < 40; d++) {
      inner = Buffer.concat([element(0x00091010, 'SQ', Buffer.alloc(0), undefinedLength), itemOfUndefinedLength, inner, item(Buffer.alloc(0), 0xfffee00d), item(Buffer.alloc(0), 0xfffee0dd)]);
    }
    return nativeSlice(u, 16, 16, { before: [inner] });
  }],
  ['sequence never closed', 'explicit', false, (r, u) => Buffer.concat([ctHeader({ ...u, before: [element(0x00091010, 'SQ', Buffer.alloc(0), undefinedLength), item(randomBytesFrom(r, 40))] })])],
  ['native pixel data of undefined length', 'explicit', false, (r, u) => Buffer.concat([ctHeader({ ...u }), element(0x7fe00010, 'OW', randomBytesFrom(r, 100), undefinedLength)])],
  ['implicit VR data set with a length corrupted', 'implicit', false, (r, u) => {
    // Explicit bytes read as implicit: every VR becomes part of a length.
    const b = Buffer.from(nativeSlice(u));
    b.writeUInt32LE(randomInt(r, 0x10000, 0xffffffff), 4);
    return b;
  }],
  ['JPEG-LS codestream with bytes flipped', 'jpegLs', true, (r, u, c) => Buffer.concat([ctHeader({ ...u, rows: 64, columns: 64 }), encapsulated([flip(r, c.jpegLs, randomInt(r, 1, 20))])])],
  ['JPEG-LS codestream truncated', 'jpegLs', false, (r, u, c) => Buffer.concat([ctHeader({ ...u, rows: 64, columns: 64 }), encapsulated([c.jpegLs.subarray(0, randomInt(r, 0, c.jpegLs.length - 20) & ~1)])])],
  ['JPEG-LS codestream of random bytes', 'jpegLs', false, (r, u) => Buffer.concat([ctHeader({ ...u, rows: 64, columns: 64 }), encapsulated([randomBytesFrom(r, randomInt(r, 1, 2000) * 2)])])],
  ['JPEG-LS stream for other dimensions', 'jpegLs', false, (r, u, c) => Buffer.concat([ctHeader({ ...u, rows: randomInt(r, 65, 512), columns: 64 }), encapsulated([c.jpegLs])])],
  ['native pixel data on a compressed syntax', 'jpegLs', false, (_r, u) => nativeSlice(u)],
  ['encapsulated pixel data without fragments', 'jpegLs', false, (_r, u) => Buffer.concat([ctHeader({ ...u, rows: 64, columns: 64 }), encapsulated([])])],
  ['RLE header with a nonsense segment count', 'rle', false, (r, u, c) => {
    const b = Buffer.from(c.rle);
    b.writeUInt32LE(randomInt(r, 2, 0xffffffff), 0);
    return Buffer.concat([ctHeader({ ...u, rows: 64, columns: 64 }), encapsulated([b])]);
  }],
  ['RLE segment offsets beyond the fragment', 'rle', false, (r, u, c) => {
    const b = Buffer.from(c.rle);
    b.writeUInt32LE(randomInt(r, b.length, 0xffffffff), 4 + 4 * randomInt(r, 0, 1));
    return Buffer.concat([ctHeader({ ...u, rows: 64, columns: 64 }), encapsulated([b])]);
  }],
  ['RLE segments truncated', 'rle', false, (r, u, c) => Buffer.concat([ctHeader({ ...u, rows: 64, columns: 64 }), encapsulated([c.rle.subarray(0, randomInt(r, 64, c.rle.length - 40) & ~1)])])],
  ['deflated data set of random bytes', 'deflated', false, (r) => randomBytesFrom(r, randomInt(r, 1, 5000))],
  ['deflated data set truncated', 'deflated', false, (r, u) => {
    const b = deflateRawSync(nativeSlice(u));
    return b.subarray(0, randomInt(r, 1, Math.max(1, Math.floor(b.length / 3))));
  }],
  ['deflated data set whose inflated header is damaged', 'deflated', false, (r, u) => deflateRawSync(flip(r, ctHeader({ ...u }), 3))],
];

/** `count` data-set inputs, the generators taken in turn; a deflate bomb or two included. */
export function dataSetInputs(random: Random, count: number, codestreams: Codestreams): DataSetInput[] {
  const inputs = Array.from({ length: count }, (_, i): DataSetInput => {
    const [kind, syntax, mayBeValid, make] = dataSetGenerators[i % dataSetGenerators.length]!;
    const u = uids();
    return { kind, syntax, sopInstanceUid: u.sopInstanceUid, dataSet: make(random, u, codestreams), mayBeValid };
  });
  // 300 MiB of zeros before the UIDs, ~300 KiB deflated.
  const bomb = uids();
  inputs.push({
    kind: 'deflate bomb',
    syntax: 'deflated',
    sopInstanceUid: bomb.sopInstanceUid,
    dataSet: deflateRawSync(Buffer.concat([ctHeader({ ...bomb, before: [element(0x00091010, 'OB', Buffer.alloc(300 * 1024 * 1024))] })]), { level: 9 }),
    mayBeValid: false,
  });
  return inputs;
}

