// The file meta the SCP writes before each spool file's data set, read back by dcmjs (an
// independent parser, with the node's patch that keeps RSNA's invalid UIDs) and by our own reader.
import dcmjs from '../src/dicom/dcmjs.js';
import { describe, expect, it } from 'vitest';
import { fileMetaHeader, readFileMeta, type FileMetaFields } from '../src/dicom/part10.js';
import { implementationClassUid, implementationVersionName } from '../src/dicom/uids.js';

describe('fileMetaHeader', () => {
  it.each<[string, FileMetaFields]>([
    ['odd UID, odd AE', { sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid: '1.2.3.45', transferSyntaxUid: '1.2.840.10008.1.2', sourceAeTitle: 'ODD' }],
    ['RSNA UID, even AE', { sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid: 'ID_4d28912ba6', transferSyntaxUid: '1.2.840.10008.1.2.1', sourceAeTitle: 'STORESCU' }],
    ['no AE', { sopClassUid: '1.2.3', sopInstanceUid: '1.2.3.4', transferSyntaxUid: '1.2.840.10008.1.2.4.80' }],
  ])('%s: preamble, DICM, a group length that is right, values padded as PS3.5 asks', (_name, fields) => {
    const meta = fileMetaHeader(fields);
    expect(meta.subarray(0, 128).every((b) => b === 0)).toBe(true);
    expect(meta.toString('latin1', 128, 132)).toBe('DICM');
    expect(meta.readUInt32LE(140)).toBe(meta.length - 144);
    const own = readFileMeta(meta);
    expect(own).toEqual({ sopClassUid: fields.sopClassUid, sopInstanceUid: fields.sopInstanceUid, transferSyntaxUid: fields.transferSyntaxUid, dataSetOffset: meta.length });
    // A file of this meta and an empty data set, as dcmjs reads it.
    const bytes = new Uint8Array(meta).buffer;
    const read = dcmjs.data.DicomMessage.readFile(bytes, { ignoreErrors: false });
    const value = (tag: string) => read.meta[tag]?.Value?.[0];
    expect(value('00020002')).toBe(fields.sopClassUid);
    expect(value('00020003')).toBe(fields.sopInstanceUid);
    expect(value('00020010')).toBe(fields.transferSyntaxUid);
    expect(value('00020012')).toBe(implementationClassUid);
    expect(value('00020013')).toBe(implementationVersionName);
    expect(value('00020016')).toBe(fields.sourceAeTitle);
    expect(Array.from(new Uint8Array(read.meta['00020001']!.Value![0] as ArrayBuffer))).toEqual([0, 1]);
    // Odd values carry one padding byte: NUL after a UI, a space after text.
    const padAfter = (text: string, pad: number) => {
      const at = meta.indexOf(text, 132, 'latin1') + text.length;
      return text.length % 2 === 0 || meta[at] === pad;
    };
    expect(padAfter(fields.sopInstanceUid, 0)).toBe(true);
    if (fields.sourceAeTitle) expect(padAfter(fields.sourceAeTitle, 0x20)).toBe(true);
  });
});
