// Progress on stderr for long commands (history, import, export): drawn only when stderr is a
// terminal, so pipes, files, --json and --csv output never see it.

/** The part of a stream the progress bar writes to. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export interface Progress {
  /** Sets the count of items done (and the total, when it became known). */
  update(done: number, total?: number): void;
  /** Clears the line; the summary that follows is the command's to print. */
  stop(): void;
}

const WIDTH = 24;
/** At most one redraw per this many ms: a fast loop must not spend its time painting. */
const REDRAW_MS = 80;

/**
 * `label [#########---------------]  40% 4000/10000` when the total is known, else
 * `label 4000`. A no-op when `stream` is not a TTY.
 * @example
 * const bar = createProgress('importing', process.stderr, 10_000);
 * bar.update(500);
 * bar.stop();
 */
export function createProgress(label: string, stream: ProgressStream, total?: number): Progress {
  if (!stream.isTTY) return { update() {}, stop() {} };
  let last = 0;
  let drawn = false;
  let known = total;
  const draw = (done: number) => {
    let text: string;
    if (known !== undefined && known > 0) {
      const ratio = Math.min(1, done / known);
      const full = Math.round(ratio * WIDTH);
      const pct = String(Math.floor(ratio * 100)).padStart(3);
      text = `${label} [${'#'.repeat(full)}${'-'.repeat(WIDTH - full)}] ${pct}% ${done}/${known}`;
    } else text = `${label} ${done}`;
    const max = (stream.columns ?? 80) - 1;
    stream.write(`\r${text.slice(0, max)}\x1b[K`);
    drawn = true;
  };
  return {
    update(done, t) {
      if (t !== undefined) known = t;
      const now = Date.now();
      if (now - last < REDRAW_MS && (known === undefined || done < known)) return;
      last = now;
      draw(done);
    },
    stop() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
