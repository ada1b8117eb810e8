import { closeSync, existsSync, fdatasync, fsync, linkSync, openSync, renameSync, mkdirSync, rmSync, unlink, writevSync } from 'node:fs';
import path from 'node:path';
import type { TempFile } from './tempFiles.js';

/**
 * Writes one spool file: a temporary file (opened ahead, see TempFiles), the data set appended
 * as it arrives, then fsync (when asked) and its final name (link, see publish).
 *
 * Writes, the link and the close are synchronous, page-cache operations of well under a
 * millisecond each: a trip through libuv's thread pool costs two thread wake-ups per call, and on
 * a busy machine each wake-up waits for a core, which made an asynchronous spool several times
 * slower than the disk. Bytes are written as they arrive, so the copy into the page cache
 * happens while the sender is still sending rather than after its last byte. The fragments of
 * one socket read go in one writev, straight from the socket's buffer: the kernel then fills
 * larger page-cache folios (a 512x512 slice in two calls of 256 KiB took 180-200 us, in 128 KiB
 * writes 230-250 us, measured). Reads of under 64 KiB are gathered in a staging buffer first,
 * which bounds the writes per instance however the sender cuts its data. What is kept is
 * copied: the caller reuses its buffers. Only fsync, which waits for the disk, goes through the
 * thread pool.
 */
export class SpoolWriter {
  private fd: number | undefined;
  readonly tempPath: string;
  /** Until the file is closed; then back to the spares. */
  private stage: Buffer | undefined;
  private staged = 0;
  private readonly prefixBuffer: Buffer;
  private prefixLength = 0;
  /** Data bytes appended (after the head). */
  bytes = 0;
  /** The first failure; later appends are dropped. */
  error: NodeJS.ErrnoException | undefined;

  constructor(file: TempFile, head: Buffer, prefixBytes: number) {
    this.tempPath = file.path;
    this.fd = file.fd;
    this.stage = spareStages.pop() ?? Buffer.allocUnsafeSlow(stageLength);
    this.prefixBuffer = Buffer.allocUnsafeSlow(prefixBytes);
    this.stageBytes(head);
  }

  /** True once the first `prefixBytes` data bytes are in. */
  get prefixComplete(): boolean {
    return this.prefixLength === this.prefixBuffer.length;
  }

  /** The first `prefixBytes` data bytes (fewer when the data set is shorter). */
  prefix(): Buffer {
    return this.prefixBuffer.subarray(0, this.prefixLength);
  }

  /** Writes or copies `parts` (one read's worth) before it returns: the caller may reuse them then. */
  append(parts: readonly Buffer[]): void {
    let length = 0;
    for (const part of parts) {
      length += part.length;
      if (this.prefixLength < this.prefixBuffer.length) this.prefixLength += part.copy(this.prefixBuffer, this.prefixLength);
    }
    this.bytes += length;
    if (this.error || !this.stage) return;
    if (length < directLength) {
      for (const part of parts) this.stageBytes(part);
      return;
    }
    // Large reads go from the socket's buffer to the file, behind what was staged: a copy would
    // cost memory bandwidth that concurrent senders share.
    this.writeOut(this.staged > 0 ? [this.stage.subarray(0, this.staged), ...parts] : parts);
    this.staged = 0;
  }

  /** Writes what is pending; in fsync mode also waits until the disk has it. */
  async finish(durable: boolean): Promise<void> {
    this.flush();
    if (this.error) throw this.error;
    if (durable) await flush(fdatasync, this.fd!);
  }

  /**
   * Gives the file its final name (making the folder when missing) and closes it. The name is
   * claimed with link(2), which, unlike rename, never replaces a file already there: false, and
   * nothing changed, when `finalPath` exists (a copy of the same instance, stored first by
   * another association). Where the file system has no hard links, a rename does it, checked
   * first.
   * The temporary name goes in libuv's thread pool, and the file is closed once the current
   * callback has returned (setImmediate), when the instance's answer is on its way: the sender
   * waits for it. The unlink must not run on this thread: it takes the lock of incoming/, which
   * the pool holds while it creates the next spare there (an inode allocation, slow on these
   * disks), and the event loop spun on that lock for ~100 us a slice (measured). A crash in
   * between leaves a second name of a stored file in incoming/, which the next start removes
   * like any .part file.
   */
  publish(finalPath: string): boolean {
    const claimed = claimName(this.tempPath, finalPath);
    if (!claimed) return false;
    const fd = this.releaseFile();
    if (claimed === 'linked') removeTemporaryName(this.tempPath);
    if (fd !== undefined) setImmediate(() => closeSync(fd));
    return true;
  }

  /** Closes and deletes the temporary file (a refused or abandoned instance). */
  remove(): void {
    this.close();
    rmSync(this.tempPath, { force: true });
  }

  private stageBytes(bytes: Buffer): void {
    const stage = this.stage;
    if (!stage) return;
    for (let done = 0; done < bytes.length && !this.error; ) {
      const copied = bytes.copy(stage, this.staged, done);
      this.staged += copied;
      done += copied;
      if (this.staged === stage.length) this.flush();
    }
  }

  private flush(): void {
    if (this.stage && this.staged > 0) this.writeOut([this.stage.subarray(0, this.staged)]);
    this.staged = 0;
  }

  private writeOut(buffers: readonly Buffer[]): void {
    if (this.error) return;
    try {
      for (let rest = buffers; rest.length > 0; ) rest = unwritten(rest, writevSync(this.fd!, rest));
    } catch (err) {
      this.error = err as NodeJS.ErrnoException;
    }
  }

  private close(): void {
    const fd = this.releaseFile();
    if (fd !== undefined) closeSync(fd);
  }

  /** Ends writing: the staging buffer back to the spares; the descriptor, still open, to the caller. */
  private releaseFile(): number | undefined {
    const fd = this.fd;
    this.fd = undefined;
    if (this.stage && spareStages.length < maxSpareStages) spareStages.push(this.stage);
    this.stage = undefined;
    return fd;
  }
}

const stageLength = 256 * 1024;
/** Appended pieces this long are written as they are, not staged. */
const directLength = 64 * 1024;
/**
 * Staging buffers of closed writers, taken by the next ones: a fresh buffer of this size comes
 * from mmap, and its first use page-faults once a page, for every instance.
 */
const spareStages: Buffer[] = [];
const maxSpareStages = 16;

/** What a writev that wrote `written` bytes of `buffers` left (a short write: a full disk, a signal). */
export function unwritten(buffers: readonly Buffer[], written: number): readonly Buffer[] {
  let i = 0;
  while (i < buffers.length && written >= buffers[i]!.length) written -= buffers[i++]!.length;
  if (i === buffers.length) return [];
  return [buffers[i]!.subarray(written), ...buffers.slice(i + 1)];
}

/** Temporary names of published files being removed in the thread pool, and who waits for the last. */
const removals = { pending: 0, waiting: [] as (() => void)[] };

/** One that cannot be removed is a stored file's second name, which the next start removes. */
function removeTemporaryName(file: string): void {
  removals.pending++;
  unlink(file, () => {
    if (--removals.pending === 0) for (const resolve of removals.waiting.splice(0)) resolve();
  });
}

/** Resolves once the temporary names of published files are gone (before the node stops). */
export function temporaryNamesRemoved(): Promise<void> {
  return removals.pending === 0 ? Promise.resolve() : new Promise((resolve) => removals.waiting.push(resolve));
}

/** Errors of link(2) on file systems without hard links. */
const noHardLinks = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Links `from` to `to` ('linked': `from` is still there), or renames it where the file system
 * has no hard links ('renamed'); false when `to` exists.
 */
function claimName(from: string, to: string, retry = true): 'linked' | 'renamed' | false {
  try {
    linkSync(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    // The day folder was removed (retention) since it was made: once more, after making it.
    if (code === 'ENOENT' && retry && !existsSync(path.dirname(to))) {
      mkdirSync(path.dirname(to), { recursive: true, mode: 0o700 });
      return claimName(from, to, false);
    }
    if (!noHardLinks.has(code)) throw err;
    if (existsSync(to)) return false;
    renameSync(from, to);
    return 'renamed';
  }
  return 'linked';
}

/** fdatasync where only the contents (and size) matter, fsync for folders; off the event loop. */
function flush(how: typeof fsync, fd: number): Promise<void> {
  return new Promise((resolve, reject) => how(fd, (err) => (err ? reject(err) : resolve())));
}

async function flushPath(how: typeof fsync, file: string): Promise<void> {
  const fd = openSync(file, 'r');
  try {
    await flush(how, fd);
  } finally {
    closeSync(fd);
  }
}

/** Makes the entries of a folder (a file linked into it, a new subfolder) durable. */
export const syncFolder = (dir: string) => flushPath(fsync, dir);

/** Makes a file's contents durable, as SQLite does for its WAL. */
export const syncFileData = (file: string) => flushPath(fdatasync, file);
