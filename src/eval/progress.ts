/** Progress of a long classification on stderr: a redrawn bar on a terminal, plain lines elsewhere. */

/** `[#########-----------]  45/100 slices  45%  12.3/s  ETA 4s`; pure, for tests. */
export function progressLine(done: number, total: number, elapsedMs: number, width = 30): string {
  const fraction = total > 0 ? done / total : 1;
  const filled = Math.round(fraction * width);
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  const eta = rate > 0 && done < total ? ` ETA ${Math.ceil((total - done) / rate)}s` : '';
  const count = `${String(done).padStart(String(total).length)}/${total}`;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${count} slices ${String(Math.floor(fraction * 100)).padStart(3)}%  ${rate.toFixed(1)}/s${eta}`;
}

export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

/**
 * An onProgress callback. On a terminal the bar is redrawn in place; otherwise (logs, CI) one
 * line is written per tenth done, so a log shows that work moves without filling up.
 */
export function progressReporter(sink: ProgressSink, now: () => number = Date.now): (done: number, total: number) => void {
  const start = now();
  let lastTenth = -1;
  return (done, total) => {
    const line = progressLine(done, total, now() - start);
    if (sink.isTTY) {
      sink.write(`\r${line}${done >= total ? '\n' : ''}`);
      return;
    }
    const tenth = total > 0 ? Math.floor((done * 10) / total) : 10;
    if (tenth === lastTenth) return;
    lastTenth = tenth;
    sink.write(`${line}\n`);
  };
}
