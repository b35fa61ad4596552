import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: the CLI runs there, as a user runs it in a project. */
export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** How a CLI process ended. */
export interface DingoExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

const running = new Set<ChildProcess>();

/** Kills the CLI processes a failed test left running (call it in `after`). */
export function killAll(): void {
  for (const child of running) child.kill("SIGKILL");
}

/**
 * `node bin/dingo.js …` in a process of its own, its output collected. The environment
 * has no `DINGO_*` variables unless given.
 */
export class DingoProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<DingoExit>;
  private out = "";
  private err = "";
  private readonly waiters: { stream: "stdout" | "stderr"; pattern: RegExp; resolve: (line: string) => void }[] = [];

  constructor(args: readonly string[], env: Readonly<Record<string, string>> = {}) {
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("DINGO_")));
    this.child = spawn(process.execPath, [join(root, "bin", "dingo.js"), ...args], {
      cwd: root,
      env: { ...inherited, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    running.add(this.child);
    this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      this.out += chunk;
      this.check();
    });
    this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.err += chunk;
      this.check();
    });
    this.exited = new Promise((resolve) => {
      this.child.on("close", (code, signal) => {
        running.delete(this.child);
        resolve({ code, signal, stdout: this.out, stderr: this.err });
      });
    });
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  /**
   * Resolves with the first line of `stream` matching `pattern`, printed already or
   * later; rejects if the process ends without printing one.
   */
  waitFor(pattern: RegExp, stream: "stdout" | "stderr" = "stdout"): Promise<string> {
    const found = matchingLine(stream === "stdout" ? this.out : this.err, pattern);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      this.waiters.push({ stream, pattern, resolve });
      this.exited.then((exit) => {
        reject(
          new Error(
            `dingo exited (${exit.code ?? exit.signal}) without printing ${pattern} on ${stream}\n` +
              `stdout: ${exit.stdout}\nstderr: ${exit.stderr}`,
          ),
        );
      }, reject);
    });
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  private check(): void {
    for (const waiter of [...this.waiters]) {
      const line = matchingLine(waiter.stream === "stdout" ? this.out : this.err, waiter.pattern);
      if (line === undefined) continue;
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  }
}

function matchingLine(text: string, pattern: RegExp): string | undefined {
  // Only complete lines: a line still being written could match in part.
  return text
    .split("\n")
    .slice(0, -1)
    .find((line) => pattern.test(line));
}

/** Runs `dingo …` to its end. */
export function dingo(args: readonly string[], env?: Readonly<Record<string, string>>): Promise<DingoExit> {
  return new DingoProcess(args, env).exited;
}

/** The worker fixture serving the example MathTasks with the example handlers. */
export const mathWorker = "test/fixtures/cli-math-worker.ts";
/** The worker fixture whose CountPrimes waits for SIGTERM and whose Divide never ends. */
export const slowWorker = "test/fixtures/cli-slow-worker.ts";

/** A prefix no other test uses. */
export function uniquePrefix(label: string): string {
  return `dingo-cli-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Asserts the failure of a command as users must see it: exit 1, one `dingo: …` line, no stack trace. */
export function assertOneLineError(exit: DingoExit, pattern: RegExp, { quietStdout = true } = {}): void {
  assert.equal(exit.code, 1, `exit code; stderr: ${exit.stderr}`);
  assert.match(exit.stderr, /^dingo: [^\n]+\n$/, `exactly one line on stderr: ${exit.stderr}`);
  assert.doesNotMatch(exit.stderr, /\n\s+at /, "no stack trace");
  assert.match(exit.stderr, pattern);
  if (quietStdout) assert.equal(exit.stdout, "");
}
