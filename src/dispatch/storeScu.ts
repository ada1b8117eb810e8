import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { checkElements } from '../dicom/elementScan.js';
import { readFileMeta, type FileMeta } from '../dicom/part10.js';
import { statusName } from '../dicom/status.js';
import { TransferSyntax } from '../dicom/uids.js';
import type { ProposedContext } from '../dicom/upperLayer.js';
import { errorMessage } from '../errors.js';
import { AssociationLost, ScuAssociation } from './scuAssociation.js';
import { storeTranscoding } from './transcodingScu.js';

export interface StorePeer {
  host: string;
  port: number;
  aeTitle: string;
  callingAeTitle: string;
  timeoutMs: number;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean };
}

/**
 * Per file: the peer's status; or why there was none and whether that may change: `unreachable`
 * (no connection, association rejected or ended early, no answer in time: retry later) or
 * `unsendable` (the payload cannot be read, or the peer accepted no presentation context for
 * its SOP Class: the same bytes to the same peer will fail again).
 */
export type StoreAttempt = { status: number; comment?: string } | { unreachable: string } | { unsendable: string };

/** Far above any file meta group; what is read of each file to plan the association. */
const metaPrefixBytes = 64 * 1024;
/** Presentation context IDs are odd numbers 1-255 (PS3.8 9.3.2.2). */
const maxContexts = 128;
/** "Transfer syntaxes not supported" (PS3.8 9.3.3.2): another syntax may do. */
const transferSyntaxesNotSupported = 4;

/**
 * Sends files (C-STORE SCU). Resolves with one attempt per file, in order; never rejects:
 * failures become `unreachable` or `unsendable` entries, each file on its own.
 *
 * One association proposes each SOP Class in the transfer syntax each file is stored in, and
 * the data sets go out as stored, never parsed (~0.5 ms a 512x512 slice). The files whose
 * syntax the peer does not take then go through dcmjs-dimse, which converts them to an
 * uncompressed one (transcodingScu.ts), in a second association.
 */
export async function storeFiles(peer: StorePeer, files: readonly string[]): Promise<StoreAttempt[]> {
  const results: Array<StoreAttempt | undefined> = files.map(() => undefined);
  const metas = files.map((file, i) => {
    try {
      const meta = readFileMeta(prefixOf(file));
      if (meta.sopClassUid && meta.sopInstanceUid && meta.transferSyntaxUid) return meta as Required<FileMeta>;
      results[i] = { unsendable: 'cannot read the payload: its file meta lacks the SOP Class, SOP Instance or transfer syntax UID' };
    } catch (err) {
      // A missing payload (removed by hand or by retention before an `outbox retry`) fails its
      // own row, not the association of every other row.
      results[i] = { unsendable: `cannot read the payload: ${errorMessage(err)}` };
    }
    return undefined;
  });
  const contexts = new Map<string, ProposedContext>();
  const planned: Planned[] = [];
  const toConvert: number[] = [];
  metas.forEach((meta, i) => {
    if (!meta) return;
    const key = `${meta.sopClassUid} ${meta.transferSyntaxUid}`;
    let context = contexts.get(key);
    if (!context && contexts.size < maxContexts) {
      context = { id: 2 * contexts.size + 1, abstractSyntax: meta.sopClassUid, transferSyntaxes: [meta.transferSyntaxUid] };
      contexts.set(key, context);
    }
    if (context) planned.push({ i, meta, contextId: context.id });
    else toConvert.push(i);
  });
  if (planned.length > 0) await storeAsStored(peer, files, [...contexts.values()], planned, results, toConvert);
  if (toConvert.length > 0) {
    const converted = await storeTranscoding(peer, toConvert.map((i) => files[i]!));
    toConvert.forEach((i, k) => (results[i] = converted[k]));
  }
  return results.map((r) => r ?? { unreachable: 'the association ended before the peer answered' });
}

/** A file to send as stored: its index, file meta and proposed presentation context. */
interface Planned {
  i: number;
  meta: Required<FileMeta>;
  contextId: number;
}

/**
 * The association of files sent as stored. Fills `results`; a file whose transfer syntax the
 * peer does not take goes to `toConvert`.
 */
async function storeAsStored(
  peer: StorePeer,
  files: readonly string[],
  contexts: readonly ProposedContext[],
  planned: readonly Planned[],
  results: Array<StoreAttempt | undefined>,
  toConvert: number[],
): Promise<void> {
  let association: ScuAssociation;
  try {
    association = await ScuAssociation.open(peer, contexts);
  } catch (err) {
    for (const { i } of planned) results[i] = { unreachable: errorMessage(err) };
    return;
  }
  try {
    for (const { i, meta, contextId } of planned) {
      const context = association.contexts.get(contextId);
      if (context?.result === 0 && context.transferSyntax === meta.transferSyntaxUid) {
        results[i] = await storeOne(association, contextId, meta, files[i]!);
      } else if (context?.result === transferSyntaxesNotSupported) {
        toConvert.push(i);
      } else {
        results[i] = { unsendable: `the peer accepted no presentation context for SOP Class ${meta.sopClassUid}` };
      }
    }
    await association.release();
  } catch (err) {
    if (!(err instanceof AssociationLost)) throw err;
    for (const { i } of planned) if (!results[i] && !toConvert.includes(i)) results[i] = { unreachable: err.message };
  }
}

async function storeOne(association: ScuAssociation, contextId: number, meta: Required<FileMeta>, file: string): Promise<StoreAttempt> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    return { unsendable: `cannot read the payload: ${errorMessage(err)}` };
  }
  const dataSet = bytes.subarray(meta.dataSetOffset);
  const problem = structuralProblem(dataSet, meta.transferSyntaxUid);
  if (problem) return { unsendable: `the stored data set cannot be sent as it is: ${problem}` };
  return association.store(contextId, meta.sopClassUid, meta.sopInstanceUid, dataSet);
}

/**
 * Why a Little Endian data set would not parse at the peer (one received cut short, say), or
 * undefined. Such an instance is stored as received, but a PACS aborts the association on it,
 * which would fail every instance after it, again at every retry. (dcmjs-dimse used to fill
 * the missing bytes with zeros and send an altered image.)
 */
function structuralProblem(dataSet: Buffer, transferSyntaxUid: string): string | undefined {
  if (!littleEndianUndeflated(transferSyntaxUid)) return undefined;
  try {
    checkElements(dataSet, 0, transferSyntaxUid !== TransferSyntax.ImplicitVRLittleEndian);
    return undefined;
  } catch (err) {
    return errorMessage(err);
  }
}

function littleEndianUndeflated(transferSyntaxUid: string): boolean {
  return transferSyntaxUid !== TransferSyntax.DeflatedExplicitVRLittleEndian && transferSyntaxUid !== TransferSyntax.ExplicitVRBigEndian;
}

function prefixOf(file: string): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(metaPrefixBytes);
    return buffer.subarray(0, readSync(fd, buffer, 0, metaPrefixBytes, 0));
  } finally {
    closeSync(fd);
  }
}

export function describeAttempt(a: StoreAttempt): string {
  if ('unreachable' in a) return a.unreachable;
  if ('unsendable' in a) return a.unsendable;
  return `${statusName(a.status)}${a.comment ? ` (${a.comment})` : ''}`;
}
