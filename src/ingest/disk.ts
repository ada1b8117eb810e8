import { statfs } from 'node:fs/promises';

/** Free space of the file system holding `dir`, in MiB. */
export async function freeMegabytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return (s.bavail * s.bsize) / (1024 * 1024);
}

/**
 * Polls free space so the C-STORE path reads a flag instead of calling statfs per instance.
 * Below the watermark new instances get 0xA700; above it again, the node accepts by itself.
 */
export class DiskWatermark {
  private timer: NodeJS.Timeout | undefined;
  low = false;
  freeMb = Number.POSITIVE_INFINITY;

  constructor(
    private readonly dir: string,
    private readonly minFreeMb: number,
    private readonly onChange: (low: boolean, freeMb: number) => void,
  ) {}

  async check(): Promise<void> {
    this.freeMb = await freeMegabytes(this.dir);
    const low = this.freeMb < this.minFreeMb;
    if (low !== this.low) {
      this.low = low;
      this.onChange(low, this.freeMb);
    }
  }

  start(intervalMs = 2000): Promise<void> {
    this.timer = setInterval(() => void this.check().catch(() => undefined), intervalMs);
    this.timer.unref();
    return this.check();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
