import { Writable } from 'node:stream';
import { promises as fsp } from 'node:fs';

/**
 * A file writer that also keeps the first `prefixBytes` of what it writes, so the header can be
 * parsed without reading the file back. Writes are batched with writev; `fsync` flushes to the
 * disk before the stream finishes.
 */
export class SpoolStream extends Writable {
  private handle: fsp.FileHandle | undefined;
  private readonly prefix: Buffer[] = [];
  private prefixLength = 0;
  bytesWritten = 0;

  constructor(
    readonly path: string,
    private readonly head: Buffer,
    private readonly fsync: boolean,
    private readonly prefixBytes = 64 * 1024,
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  /** The first bytes after the head, at least prefixBytes of them when the data was that long. */
  capturedPrefix(): Buffer {
    return Buffer.concat(this.prefix, this.prefixLength);
  }

  override _construct(callback: (error?: Error | null) => void): void {
    fsp
      .open(this.path, 'wx', 0o600)
      .then(async (h) => {
        this.handle = h;
        await h.write(this.head);
      })
      .then(() => callback(), callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    for (const b of buffers) {
      if (this.prefixLength >= this.prefixBytes) break;
      this.prefix.push(b);
      this.prefixLength += b.length;
    }
    writeAll(this.handle!, buffers).then((n) => {
      this.bytesWritten += n;
      callback();
    }, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    (this.fsync ? this.handle!.sync() : Promise.resolve()).then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const h = this.handle;
    this.handle = undefined;
    if (!h) return callback(error);
    h.close().then(() => callback(error), () => callback(error));
  }
}

/** writev until every byte is written: a regular file may take fewer bytes than offered. */
async function writeAll(handle: fsp.FileHandle, buffers: Buffer[]): Promise<number> {
  const total = buffers.reduce((n, b) => n + b.length, 0);
  let done = (await handle.writev(buffers)).bytesWritten;
  while (done < total) {
    const rest = Buffer.concat(buffers).subarray(done);
    done += (await handle.write(rest)).bytesWritten;
  }
  return total;
}
