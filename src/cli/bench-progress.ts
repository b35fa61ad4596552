/** What a phase of `dingo bench` runs until: a time, a number of calls, or both. */
export interface BenchGoal {
  readonly durationMs?: number | undefined;
  readonly calls?: number | undefined;
}

/** The progress display of `dingo bench`, on stderr. */
export interface BenchProgress {
  /** Starts a phase (`warm-up`, `measuring`): its counts start from zero. */
  begin(phase: string, goal: BenchGoal): void;
  /** Counts one settled call; cheap, as it runs once per call. */
  settled(failed: boolean): void;
  /** Ends the phase: a last line with its counts. */
  end(): void;
  /** Prints a line of its own (the bar, if any, is redrawn under it). */
  note(text: string): void;
}

/** Options of {@link createBenchProgress}. */
export interface BenchProgressOptions {
  /** Where to write (stderr). */
  readonly write: (text: string) => void;
  /** A terminal: one bar redrawn in place. Otherwise: plain lines. */
  readonly tty: boolean;
  /** Width of the terminal, for the bar (default 80). */
  readonly columns?: number | undefined;
}

/** How often the bar is redrawn on a terminal, ms: often enough to look live, rarely enough to cost nothing. */
const redrawMs = 100;
/** How often a plain progress line is written otherwise, ms. */
const lineMs = 1000;
const barWidth = 24;

/**
 * Creates the progress display: on a terminal a bar redrawn in place (at most every
 * 100 ms, whatever the call rate), otherwise a line per second and one per phase, so
 * that logs of CI jobs stay readable.
 */
export function createBenchProgress(options: BenchProgressOptions): BenchProgress {
  const { write, tty } = options;
  // A pseudo-terminal may report 0 columns.
  const columns = Math.max(40, options.columns || 80);
  let phase = "";
  let goal: BenchGoal = {};
  let started = 0;
  let calls = 0;
  let errors = 0;
  let timer: NodeJS.Timeout | undefined;
  let barShown = false;

  const status = (): string => {
    const elapsedMs = performance.now() - started;
    const rate = elapsedMs > 0 ? Math.round((calls / elapsedMs) * 1000) : 0;
    return `${seconds(elapsedMs)}  ${calls} calls  ${rate} calls/s  ${errors} errors`;
  };
  const fraction = (): number => {
    const byCalls = goal.calls === undefined ? 0 : (calls + errors) / goal.calls;
    const byTime = goal.durationMs === undefined ? 0 : (performance.now() - started) / goal.durationMs;
    return Math.min(1, Math.max(byCalls, byTime));
  };
  const clearBar = (): void => {
    if (barShown) write("\r\x1b[2K");
    barShown = false;
  };
  const drawBar = (): void => {
    const done = fraction();
    const filled = Math.round(done * barWidth);
    const bar = `${"#".repeat(filled)}${"-".repeat(barWidth - filled)}`;
    const line = `${phase} [${bar}] ${String(Math.floor(done * 100)).padStart(3)}%  ${status()}`;
    write(`\r\x1b[2K${line.slice(0, columns - 1)}`);
    barShown = true;
  };
  const stopTimer = (): void => {
    clearInterval(timer);
    timer = undefined;
  };

  return {
    begin(name, phaseGoal) {
      stopTimer();
      phase = name;
      goal = phaseGoal;
      started = performance.now();
      calls = 0;
      errors = 0;
      const until = [
        phaseGoal.durationMs === undefined ? undefined : `${phaseGoal.durationMs} ms`,
        phaseGoal.calls === undefined ? undefined : `${phaseGoal.calls} calls`,
      ].filter((part) => part !== undefined);
      if (tty) {
        drawBar();
        timer = setInterval(drawBar, redrawMs);
      } else {
        write(`dingo bench: ${name} (${until.join(", ")})\n`);
        timer = setInterval(() => write(`dingo bench: ${phase} ${status()}\n`), lineMs);
      }
    },
    settled(failed) {
      if (failed) errors++;
      else calls++;
    },
    end() {
      stopTimer();
      clearBar();
      write(`dingo bench: ${phase} done: ${status()}\n`);
    },
    note(text) {
      clearBar();
      write(`dingo bench: ${text}\n`);
      if (tty && timer !== undefined) drawBar();
    },
  };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
