import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { hash } from 'node:crypto';
import path from 'node:path';
import type { IncomingInstance, StoreHandler, StoreRequestInfo } from '../dicom/scp.js';
import { DicomStatus, type StoreOutcome } from '../dicom/status.js';
import { fileMetaHeader } from '../dicom/part10.js';
import { readDataSetHeader, readHeader, type InstanceHeader } from '../dicom/header.js';
import { TruncatedError } from '../dicom/elementScan.js';
import { syncFileData, syncFolder, SpoolWriter, temporaryNamesRemoved } from './spoolWriter.js';
import { TempFiles, type TempFile } from './tempFiles.js';
import { SopClass } from '../dicom/uids.js';
import { positionAlongNormal, tiltDegrees } from '../series/geometry.js';
import type { InstanceStore, NewInstance } from '../store/instances.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

export interface ReceiverOptions {
  dataDir: string;
  durability: 'write' | 'fsync';
  /** True while free disk space is under the watermark: new C-STOREs are refused. */
  diskLow: () => boolean;
  /** Destinations that receive a copy of every instance (routing), read per instance. */
  forwardTo?: () => readonly string[];
  now?: () => number;
}

/** Enough for the header of a CT slice; a longer header is read from the file. */
const headerPrefixBytes = 16 * 1024;
/** Most bytes read back from a spool file to find the header (docs/conformance.md, limits). */
export const maxHeaderBytes = 16 * 1024 * 1024;

/** Folder of the spool, relative to dataDir; files move from incoming/ into a folder per day. */
export const spoolDir = 'spool';
const incomingDir = path.join(spoolDir, 'incoming');

/**
 * Makes each instance durable before it is acknowledged: the data set streams into a temporary
 * file (owner-only), which is completed (and fsynced in `fsync` mode), given its final name, and
 * recorded in SQLite. Only then does the SCP answer Success.
 */
export class SpoolReceiver implements StoreHandler {
  private readonly context: SpoolContext;
  private readonly tempFiles: TempFiles;

  constructor(options: ReceiverOptions, instances: InstanceStore, log: Logger) {
    const incoming = path.join(options.dataDir, incomingDir);
    mkdirSync(incoming, { recursive: true, mode: 0o700 });
    removeUnacknowledged(incoming, log);
    this.context = { options, instances, log, now: options.now ?? Date.now, knownDirs: new Set(), claiming: new Set() };
    this.tempFiles = new TempFiles(incoming);
  }

  begin(request: StoreRequestInfo): IncomingInstance {
    if (this.context.options.diskLow()) {
      return refused({ status: DicomStatus.OutOfResources, comment: 'free disk space is below storage.minFreeMb' });
    }
    let file: TempFile;
    try {
      file = this.tempFiles.take();
    } catch (err) {
      return refused({ status: DicomStatus.OutOfResources, comment: `cannot store spool file: ${errorCode(err)}` });
    }
    return new SpoolFile(request, this.context, file);
  }

  /** Deletes the spare temporary files and the names of published ones (after the SCP has stopped). */
  async close(): Promise<void> {
    await Promise.all([this.tempFiles.close(), temporaryNamesRemoved()]);
  }
}

interface SpoolContext {
  options: ReceiverOptions;
  instances: InstanceStore;
  log: Logger;
  now: () => number;
  /** Day folders known to exist: one mkdir per day, not per instance. */
  knownDirs: Set<string>;
  /** Final spool paths named and not yet recorded (fsync mode waits for the disk in between). */
  claiming: Set<string>;
}

/**
 * Temporary files left by a stop or crash: an acknowledged instance has its final name outside
 * incoming/ (a crash between link and unlink leaves a second name here, removed without harm),
 * so these were never acknowledged. Spares opened ahead are empty temporaries too.
 */
function removeUnacknowledged(incoming: string, log: Logger): void {
  const stale = readdirSync(incoming).filter((f) => f.endsWith('.part'));
  for (const f of stale) rmSync(path.join(incoming, f), { force: true });
  if (stale.length > 0) log.info({ files: stale.length }, 'removed unacknowledged partial spool files');
}

/** An instance refused before its bytes arrive: they are counted and dropped. */
function refused(outcome: StoreOutcome): IncomingInstance {
  let bytes = 0;
  return {
    write: (parts) => void (bytes += parts.reduce((n, p) => n + p.length, 0)),
    get bytes() {
      return bytes;
    },
    complete: async () => outcome,
    discard: () => undefined,
  };
}

class SpoolFile implements IncomingInstance {
  private readonly writer: SpoolWriter;
  private readonly meta: Buffer;
  private readonly fileName: string;
  /** The header read from the prefix as soon as it was in; null: it needs the longer read. */
  private early: InstanceHeader | null | undefined;

  constructor(
    private readonly request: StoreRequestInfo,
    private readonly context: SpoolContext,
    file: TempFile,
  ) {
    this.meta = fileMetaHeader({
      sopClassUid: request.sopClassUid,
      sopInstanceUid: request.sopInstanceUid,
      transferSyntaxUid: request.transferSyntaxUid,
      sourceAeTitle: request.association.callingAe,
    });
    this.writer = new SpoolWriter(file, this.meta, headerPrefixBytes);
    this.fileName = `${uidFileName(request.sopInstanceUid)}.dcm`;
  }

  write(parts: readonly Buffer[]): void {
    this.writer.append(parts);
    // Read while the sender is still sending: between the last byte and the answer the sender
    // waits, and the header no longer has to be parsed then.
    if (this.early === undefined && this.writer.prefixComplete) this.early = headerOf(this.request.transferSyntaxUid, this.writer.prefix());
  }

  /** Data set bytes received so far. */
  get bytes(): number {
    return this.writer.bytes;
  }

  async complete(): Promise<StoreOutcome> {
    const { instances, options } = this.context;
    const writer = this.writer;
    if (writer.error) return this.refuseUnstored(writer.error);
    let header: InstanceHeader;
    try {
      header = await this.parseHeader();
    } catch (err) {
      writer.remove();
      return { status: DicomStatus.CannotUnderstand, comment: `unreadable data set: ${errorMessage(err)}` };
    }
    const problem = missingAttribute(header);
    if (problem) {
      writer.remove();
      return { status: DicomStatus.CannotUnderstand, comment: problem };
    }
    const durable = options.durability === 'fsync';
    // A repeated SOP Instance UID keeps the first copy: acknowledged, nothing changes. It is
    // found when its name is claimed (stored the same day) or its row inserted (another day),
    // not looked up first: that query cost every instance ~20 us while the sender waits.
    const receivedAt = this.context.now();
    const relative = path.join(spoolDir, new Date(receivedAt).toISOString().slice(0, 10), this.fileName);
    const finalPath = path.join(options.dataDir, relative);
    let claim: Claim | undefined;
    try {
      // In fsync mode the bytes reach the disk before the file gets its name.
      await writer.finish(durable);
      const dayFolder = path.dirname(finalPath);
      // A new day folder is itself an entry of spool/, which must reach the disk too.
      if (this.makeDayFolder(dayFolder) && durable) await syncFolder(path.dirname(dayFolder));
      claim = this.claim(finalPath);
      if (claim === 'claimed' && durable) await syncFolder(dayFolder);
    } catch (err) {
      if (claim === 'claimed') this.release(finalPath, true);
      return this.refuseUnstored(err);
    }
    // Stored by another association meanwhile: a duplicate.
    if (claim === 'stored') return this.duplicate(durable);
    if (claim === 'in progress') {
      // Its row is not committed yet (fsync mode waits for the disk): answering Success now
      // could acknowledge nothing, should that commit fail.
      writer.remove();
      return { status: DicomStatus.OutOfResources, comment: 'same instance in progress on another association: send again' };
    }
    try {
      instances.record(this.toRow(header, relative, this.meta.length + writer.bytes, receivedAt), {
        seriesUid: header.seriesUid!,
        studyUid: header.studyUid!,
        modality: header.modality ?? null,
        seriesDescription: header.seriesDescription ?? null,
        contrastAgent: header.contrastBolusAgent ?? null,
        accessionNumber: header.accessionNumber ?? null,
        expectedSlices: header.imagesInAcquisition ?? null,
      }, options.forwardTo?.() ?? []);
    } catch (err) {
      this.release(finalPath, true);
      // Its row came first under another name (stored on another day, its file since removed).
      if (isDuplicateKey(err)) return this.duplicate(durable);
      return { status: DicomStatus.OutOfResources, comment: `cannot record instance: ${errorMessage(err)}` };
    }
    this.release(finalPath, false);
    return durable ? this.flushDatabase() : { status: DicomStatus.Success };
  }

  /**
   * Gives the spool file its final name, held in `claiming` until its row is committed; when the
   * name is taken, says whether by a stored copy or one in progress. A file there without a row
   * that no association is storing was left by a crash between its name and its commit, never
   * acknowledged: it makes way (rename replaced it before link was used).
   */
  private claim(finalPath: string): Claim {
    const { claiming, instances } = this.context;
    if (!this.writer.publish(finalPath)) {
      if (instances.has(this.request.sopInstanceUid)) return 'stored';
      if (claiming.has(finalPath)) return 'in progress';
      rmSync(finalPath, { force: true });
      if (!this.writer.publish(finalPath)) return 'in progress';
    }
    claiming.add(finalPath);
    return 'claimed';
  }

  /** Ends the claim; `remove`: the instance was not recorded, its file goes (it is this one's own). */
  private release(finalPath: string, remove: boolean): void {
    this.context.claiming.delete(finalPath);
    if (remove) rmSync(finalPath, { force: true });
  }

  private duplicate(durable: boolean): Promise<StoreOutcome> | StoreOutcome {
    this.writer.remove();
    this.context.log.info({ sop: this.request.sopInstanceUid }, 'duplicate instance acknowledged, first copy kept');
    return durable ? this.flushDatabase() : { status: DicomStatus.Success };
  }

  private refuseUnstored(err: unknown): StoreOutcome {
    this.writer.remove();
    return { status: DicomStatus.OutOfResources, comment: `cannot store spool file: ${errorCode(err)}` };
  }

  /** In fsync mode the row must survive power loss as the file does. */
  private async flushDatabase(): Promise<StoreOutcome> {
    const wal = this.context.instances.walFile;
    try {
      if (wal) await syncFileData(wal);
      return { status: DicomStatus.Success };
    } catch (err) {
      // The row stays: a sender that tries again gets the duplicate's answer, flushed again.
      return { status: DicomStatus.OutOfResources, comment: `cannot flush the database: ${errorCode(err)}` };
    }
  }

  /**
   * One mkdir per day, not per instance (publish() remakes the folder if retention removed it
   * since). True when this call made it.
   */
  private makeDayFolder(dir: string): boolean {
    const known = this.context.knownDirs;
    if (known.has(dir)) return false;
    known.add(dir);
    return mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined;
  }

  /**
   * From the bytes kept while streaming; from the start of the file (at most maxHeaderBytes,
   * so that a data set of any size is never read into memory whole) when the header is longer.
   */
  private async parseHeader(): Promise<InstanceHeader> {
    const early = this.early === undefined ? headerOf(this.request.transferSyntaxUid, this.writer.prefix()) : this.early;
    if (early) return early;
    await this.writer.finish(false);
    const start = await readStart(this.writer.tempPath, maxHeaderBytes);
    try {
      return readHeader(start).header;
    } catch (err) {
      if (err instanceof TruncatedError && start.length === maxHeaderBytes) {
        throw new Error(`the attributes the node reads are not within the first ${maxHeaderBytes / (1024 * 1024)} MiB`, { cause: err });
      }
      throw err;
    }
  }

  /** The SCP logs why, with the association's context. */
  discard(): void {
    this.writer.remove();
  }

  private toRow(h: InstanceHeader, relative: string, size: number, receivedAt: number): NewInstance {
    const sopClassUid = this.request.sopClassUid;
    const skipReason = classificationRefusal(sopClassUid, h);
    return {
      sopInstanceUid: this.request.sopInstanceUid,
      sopClassUid,
      seriesUid: h.seriesUid!,
      studyUid: h.studyUid!,
      transferSyntax: this.request.transferSyntaxUid,
      callingAe: this.request.association.callingAe,
      peerAddress: this.request.association.peerAddress,
      receivedAt,
      path: relative,
      size,
      instanceNumber: h.instanceNumber ?? null,
      z: positionAlongNormal(h.imagePositionPatient, h.imageOrientationPatient) ?? null,
      tiltDeg: tiltDegrees(h.imageOrientationPatient) ?? null,
      imageType: h.imageType.length > 0 ? h.imageType.join('\\') : null,
      state: skipReason ? 'skipped' : 'received',
      skipReason,
    };
  }

}

/** What claiming a spool file's final name found. */
type Claim = 'claimed' | 'stored' | 'in progress';

/**
 * The header from the data set bytes kept in memory; null when they end inside it or do not
 * parse (the read from the file decides, and reports).
 */
function headerOf(transferSyntaxUid: string, prefix: Buffer): InstanceHeader | null {
  try {
    const parsed = readDataSetHeader(prefix, transferSyntaxUid);
    return parsed.complete ? parsed.header : null;
  } catch {
    return null;
  }
}

/** SQLite's answer to a second row with the same SOP Instance UID. */
function isDuplicateKey(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** Why an instance is stored but not classified, or null when it will be classified. */
export function classificationRefusal(sopClassUid: string, h: InstanceHeader): string | null {
  if (sopClassUid !== SopClass.CtImageStorage) {
    return `SOP class ${sopClassUid} is stored but not classified (CT Image Storage only)`;
  }
  if ((h.numberOfFrames ?? 1) > 1) return `multi-frame image (${h.numberOfFrames} frames) is not classified`;
  return null;
}

function missingAttribute(h: InstanceHeader): string | undefined {
  if (!h.studyUid) return 'data set has no StudyInstanceUID';
  if (!h.seriesUid) return 'data set has no SeriesInstanceUID';
  return undefined;
}

/**
 * Spool file names come from a hash of the SOP Instance UID: UIDs from the network are not
 * trusted as path components (RSNA's "ID_..." ones are not even valid UIDs).
 */
export function uidFileName(uid: string): string {
  return hash('sha256', uid, 'hex').slice(0, 40);
}

/** The first `max` bytes of a file (all of it when shorter). */
async function readStart(file: string, max: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const size = Math.min((await handle.stat()).size, max);
    const buffer = Buffer.alloc(size);
    const { bytesRead } = await handle.read(buffer, 0, size, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? errorMessage(err);
}
