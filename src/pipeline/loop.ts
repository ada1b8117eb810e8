import type { Logger } from '../log.js';

/**
 * Runs a pipeline stage's `runOnce` until stopped: again at once while it finds work, else
 * after `idleMs` or when woken. Stages hand work over only through SQLite rows, so a stage
 * that stops (or a node that dies) resumes from the rows.
 */
export class StageLoop {
  private running = false;
  private wakeUp: (() => void) | undefined;
  private done: Promise<void> | undefined;

  constructor(
    private readonly name: string,
    private readonly runOnce: () => Promise<boolean>,
    private readonly idleMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.running = true;
    this.done = this.loop();
  }

  /** Something changed: look for work now. */
  wake(): void {
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.done;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let busy = false;
      try {
        busy = await this.runOnce();
      } catch (err) {
        this.log.error({ err, stage: this.name }, 'pipeline stage failed; retrying');
      }
      if (!busy && this.running) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.idleMs);
          this.wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeUp = undefined;
      }
    }
  }
}
