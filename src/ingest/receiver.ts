import { mkdirSync, readdirSync, rmSync, promises as fsp } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { IncomingInstance, StoreHandler, StoreRequestInfo } from '../dicom/scp.js';
import { DicomStatus, type StoreOutcome } from '../dicom/status.js';
import { fileMetaHeader } from '../dicom/part10.js';
import { readHeader, type InstanceHeader } from '../dicom/header.js';
import { SpoolStream } from './spoolStream.js';
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

/** Folder of the spool, relative to dataDir; files move from incoming/ into a folder per day. */
export const spoolDir = 'spool';
const incomingDir = path.join(spoolDir, 'incoming');

/**
 * Makes each instance durable before it is acknowledged: the data set streams into a temporary
 * file (owner-only), which is completed (and fsynced in `fsync` mode), renamed into place, and
 * recorded in SQLite. Only then does the SCP answer Success.
 */
export class SpoolReceiver implements StoreHandler {
  private readonly context: SpoolContext;

  constructor(options: ReceiverOptions, instances: InstanceStore, log: Logger) {
    const incoming = path.join(options.dataDir, incomingDir);
    mkdirSync(incoming, { recursive: true, mode: 0o700 });
    removeUnacknowledged(incoming, log);
    this.context = { options, instances, log, now: options.now ?? Date.now, knownDirs: new Set() };
  }

  begin(request: StoreRequestInfo): IncomingInstance {
    if (this.context.options.diskLow()) {
      return refused({ status: DicomStatus.OutOfResources, comment: 'free disk space is below storage.minFreeMb' });
    }
    return new SpoolFile(request, this.context);
  }
}

interface SpoolContext {
  options: ReceiverOptions;
  instances: InstanceStore;
  log: Logger;
  now: () => number;
  /** Day folders known to exist: one mkdir per day, not per instance. */
  knownDirs: Set<string>;
}

/**
 * Temporary files left by a stop or crash in the middle of a transfer: an acknowledged instance
 * has always been renamed out of incoming/, so these were never acknowledged.
 */
function removeUnacknowledged(incoming: string, log: Logger): void {
  const stale = readdirSync(incoming).filter((f) => f.endsWith('.part'));
  for (const f of stale) rmSync(path.join(incoming, f), { force: true });
  if (stale.length > 0) log.info({ files: stale.length }, 'removed unacknowledged partial spool files');
}

/** An instance refused before its bytes arrive: they are read and dropped. */
function refused(outcome: StoreOutcome): IncomingInstance {
  const stream = new PassThrough();
  let bytes = 0;
  stream.on('data', (c: Buffer) => (bytes += c.length));
  return {
    stream,
    get bytes() {
      return bytes;
    },
    complete: async () => outcome,
    discard: () => stream.destroy(),
  };
}

class SpoolFile implements IncomingInstance {
  readonly stream: SpoolStream;
  private readonly tempPath: string;
  private readonly meta: Buffer;
  private writeError: Error | undefined;
  private readonly finished: Promise<void>;

  constructor(
    private readonly request: StoreRequestInfo,
    private readonly context: SpoolContext,
  ) {
    const options = context.options;
    this.tempPath = path.join(options.dataDir, incomingDir, `${randomBytes(12).toString('hex')}.part`);
    this.meta = fileMetaHeader({
      sopClassUid: request.sopClassUid,
      sopInstanceUid: request.sopInstanceUid,
      transferSyntaxUid: request.transferSyntaxUid,
      sourceAeTitle: request.association.callingAe,
    });
    // In fsync mode the file is flushed before the stream finishes, so the rename below
    // publishes durable bytes.
    this.stream = new SpoolStream(this.tempPath, this.meta, options.durability === 'fsync');
    this.stream.on('error', (err) => (this.writeError ??= err));
    // 'finish' comes once every byte is written (and fsynced); closing the file descriptor can
    // go on while we rename. 'close' alone means the stream failed.
    this.finished = new Promise((resolve) => {
      this.stream.once('finish', () => resolve());
      this.stream.once('close', () => resolve());
    });
  }

  /** Data set bytes written so far. */
  get bytes(): number {
    return this.stream.bytesWritten;
  }

  async complete(): Promise<StoreOutcome> {
    if (!this.stream.writableEnded) this.stream.end();
    await this.finished;
    if (this.writeError) {
      await this.removeTemp();
      return { status: DicomStatus.OutOfResources, comment: `cannot write spool file: ${errorCode(this.writeError)}` };
    }
    const size = this.meta.length + this.stream.bytesWritten;
    let header: InstanceHeader;
    try {
      header = await this.parseHeader();
    } catch (err) {
      await this.removeTemp();
      return { status: DicomStatus.CannotUnderstand, comment: `unreadable data set: ${errorMessage(err)}` };
    }
    const problem = missingAttribute(header);
    if (problem) {
      await this.removeTemp();
      return { status: DicomStatus.CannotUnderstand, comment: problem };
    }
    const { instances, options, log } = this.context;
    const uid = this.request.sopInstanceUid;
    // A repeated SOP Instance UID keeps the first copy: acknowledged, nothing changes.
    if (instances.has(uid)) {
      await this.removeTemp();
      log.info({ sop: uid }, 'duplicate instance acknowledged, first copy kept');
      return { status: DicomStatus.Success };
    }
    const receivedAt = this.context.now();
    const relative = path.join(spoolDir, new Date(receivedAt).toISOString().slice(0, 10), `${uidFileName(uid)}.dcm`);
    const finalPath = path.join(options.dataDir, relative);
    try {
      await this.moveInto(finalPath);
      if (options.durability === 'fsync') await fsyncDir(path.dirname(finalPath));
    } catch (err) {
      await this.removeTemp();
      return { status: DicomStatus.OutOfResources, comment: `cannot store spool file: ${errorCode(err)}` };
    }
    try {
      instances.record(this.toRow(header, relative, size, receivedAt), {
        seriesUid: header.seriesUid!,
        studyUid: header.studyUid!,
        modality: header.modality ?? null,
        seriesDescription: header.seriesDescription ?? null,
        contrastAgent: header.contrastBolusAgent ?? null,
        accessionNumber: header.accessionNumber ?? null,
        expectedSlices: header.imagesInAcquisition ?? null,
      }, options.forwardTo?.() ?? []);
    } catch (err) {
      await fsp.rm(finalPath, { force: true });
      return { status: DicomStatus.OutOfResources, comment: `cannot record instance: ${errorMessage(err)}` };
    }
    return { status: DicomStatus.Success };
  }

  private async moveInto(finalPath: string): Promise<void> {
    const dir = path.dirname(finalPath);
    const known = this.context.knownDirs;
    if (!known.has(dir)) {
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      known.add(dir);
    }
    try {
      await fsp.rename(this.tempPath, finalPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // Retention removed the day folder since we made it.
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      await fsp.rename(this.tempPath, finalPath);
    }
  }

  /** From the bytes kept while streaming; from the file when the header is longer than those. */
  private async parseHeader(): Promise<InstanceHeader> {
    try {
      const parsed = readHeader(Buffer.concat([this.meta, this.stream.capturedPrefix().subarray(0, headerPrefixBytes)]));
      if (parsed.reachedPixelData) return parsed.header;
    } catch {
      // The prefix ended inside an element: the whole file decides below.
    }
    return readHeader(await fsp.readFile(this.tempPath)).header;
  }

  discard(reason: string): void {
    this.context.log.warn({ sop: this.request.sopInstanceUid, reason }, 'incomplete instance discarded');
    this.stream.destroy();
    void this.finished.then(() => this.removeTemp());
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

  private async removeTemp(): Promise<void> {
    await fsp.rm(this.tempPath, { force: true }).catch(() => undefined);
  }
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
  return createHash('sha256').update(uid).digest('hex').slice(0, 40);
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? errorMessage(err);
}
