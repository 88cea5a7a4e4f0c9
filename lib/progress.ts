/**
 * Progress of a long command (rebuild, replay) on stderr (DESIGN section 10). On a terminal, one
 * line redrawn in place: done/total, percent, rate and time left. Anywhere else (a pipe, a CI
 * log), one plain line each time another `everyPercent` is done, so logs stay short.
 */

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export interface ProgressOptions {
  /** What runs: "rebuild". */
  label: string;
  /** What is counted: "sessions". */
  unit: string;
  stream?: ProgressStream;
  /** Without a terminal: a line every this many percent (default 10). */
  everyPercent?: number;
  /** Milliseconds; tests pass a fake clock. */
  now?: () => number;
  /** On a terminal: redraw at most this often (default 100 ms). */
  redrawMs?: number;
}

export interface Progress {
  /** `done` of `total` are done (both may change between calls). */
  update(done: number, total: number): void;
  /** Ends the line with a summary, e.g. "10,000 sessions in 8.1 s". */
  finish(summary?: string): void;
}

const number = new Intl.NumberFormat('en-US');

/** "0.4 s", "12 s", "3 m 05 s", "1 h 02 m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} m`;
}

function rateText(perSecond: number, unit: string): string {
  return `${number.format(Math.round(perSecond))} ${unit}/s`;
}

export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? (() => performance.now());
  const tty = stream.isTTY === true;
  const every = options.everyPercent ?? 10;
  let started: number | undefined; // at the first update: a progress made early (export) starts when its work does
  let lastDraw = -Infinity;
  let lastStep = -1;
  let drawn = false;
  let last = { done: 0, total: 0 };

  const elapsed = () => (started === undefined ? 0 : (now() - started) / 1000);
  const describe = (done: number, total: number): string => {
    const seconds = elapsed();
    const rate = seconds > 0 ? done / seconds : 0;
    const percent = total > 0 ? Math.floor((done / total) * 100) : 100;
    const eta = done >= total ? '' : rate > 0 ? `, ETA ${formatDuration((total - done) / rate)}` : '';
    return `${options.label}: ${percent}% ${number.format(done)}/${number.format(total)} ${options.unit}, ${rateText(rate, options.unit)}${eta}`;
  };

  return {
    update(done, total) {
      started ??= now();
      last = { done, total };
      if (tty) {
        const t = now();
        if (t - lastDraw < (options.redrawMs ?? 100) && done < total) return;
        lastDraw = t;
        const width = (stream.columns !== undefined && stream.columns > 20 ? stream.columns : 80) - 1;
        stream.write(`\r\x1b[2K${describe(done, total).slice(0, width)}`);
        drawn = true;
        return;
      }
      const step = total > 0 ? Math.floor(((done / total) * 100) / every) : 0;
      if (step <= lastStep) return;
      lastStep = step;
      stream.write(`${describe(done, total)}\n`);
    },
    finish(summary) {
      const seconds = elapsed();
      const text =
        summary ??
        `${number.format(last.done)} ${options.unit} in ${formatDuration(seconds)} (${rateText(seconds > 0 ? last.done / seconds : 0, options.unit)})`;
      stream.write(`${tty && drawn ? '\r\x1b[2K' : ''}${options.label}: ${text}\n`);
    },
  };
}

/**
 * Ctrl-C (and SIGTERM) for a long command: the first one aborts the returned signal, so the run
 * stops after the chunk in hand and leaves everything committed; a second one exits at once
 * (DuckDB rolls back the open transaction). `dispose` removes the handlers.
 */
export function interruptOnSignals(
  notice: string,
  stream: ProgressStream = process.stderr,
): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const handler = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new Error(`${name} received`));
    stream.write(`\n${notice}\n`);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
