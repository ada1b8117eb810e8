import type { Logger } from '../log.js';

/**
 * What a stage's `runOnce` says: true, it found work (run again at once); false, nothing to do
 * (run again after the loop's idle period, or when woken); a number, run again after that many
 * milliseconds (or when woken), for work that waits on purpose.
 */
export type StageResult = boolean | number;

/**
 * Runs a pipeline stage's `runOnce` until stopped: again at once while it finds work, else
 * after `idleMs` (or the delay the stage asks for) or when woken. Stages hand work over only
 * through SQLite rows, so a stage that stops (or a node that dies) resumes from the rows.
 */
export class StageLoop {
  private running = false;
  private wakeUp: (() => void) | undefined;
  private done: Promise<void> | undefined;

  constructor(
    private readonly name: string,
    private readonly runOnce: () => Promise<StageResult>,
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
      let result: StageResult = false;
      try {
        result = await this.runOnce();
      } catch (err) {
        this.log.error({ err, stage: this.name }, 'pipeline stage failed; retrying');
      }
      if (result !== true && this.running) {
        const waitMs = result === false ? this.idleMs : result;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs);
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
