/**
 * Runs the Python reference worker and caller of interop/python/ as child processes, for
 * the cross-language suite. Both print one line per event on stdout; the suite awaits
 * those lines instead of sleeping.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** Debian's Python: the one with python3-protobuf, python3-redis and python3-pika. */
export const python = "/usr/bin/python3";

/** The directory of the Python reference implementation. */
export const pythonDir = join(root, "interop/python");

/**
 * Whether the Python side can run: Debian's python3 with protobuf, redis and pika, and
 * protoc. Outside CI a missing piece skips the suite with a message; on CI (`CI=true`,
 * where .ci/run installs them) it is a failure.
 */
export async function requirePython(): Promise<string | undefined> {
  try {
    await run(python, ["-c", "import google.protobuf, pika, redis"]);
    await run("protoc", ["--version"]);
    return undefined;
  } catch (error) {
    const missing = `${python} with python3-protobuf, python3-redis, python3-pika and protoc (protobuf-compiler)`;
    if (process.env.CI === "true") throw new Error(`CI=true requires ${missing}`, { cause: error });
    return `needs ${missing}`;
  }
}

/** A child process whose stdout lines can be awaited. */
export class LineProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  private stderr = "";
  private readonly waiters = new Set<() => void>();
  private exitCode: number | null | undefined;

  constructor(
    readonly label: string,
    readonly child: ChildProcessWithoutNullStreams,
  ) {
    createInterface({ input: child.stdout }).on("line", (line) => {
      this.lines.push(line);
      for (const wake of this.waiters) wake();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exited = once(child, "exit").then(([code]) => {
      this.exitCode = code as number | null;
      for (const wake of this.waiters) wake();
      return this.exitCode;
    });
  }

  /** The first line (already printed or still to come) that matches, within `timeoutMs`. */
  async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
    const give = AbortSignal.timeout(timeoutMs);
    for (;;) {
      const line = this.lines.find((candidate) => pattern.test(candidate));
      if (line !== undefined) return line;
      if (this.exitCode !== undefined) throw this.failure(`exited (${this.exitCode}) before printing ${pattern}`);
      if (give.aborted) throw this.failure(`printed no line matching ${pattern} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.waiters.delete(wake);
          give.removeEventListener("abort", wake);
          resolve();
        };
        this.waiters.add(wake);
        give.addEventListener("abort", wake);
      });
    }
  }

  /** Kills the process (SIGKILL unless told) and waits for it to be gone. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.exitCode === undefined) this.child.kill(signal);
    await this.exited;
  }

  /** An error saying `what`, with everything the process printed. */
  failure(what: string): Error {
    return new Error(`${this.label} ${what}\nstdout:\n${this.lines.join("\n")}\nstderr:\n${this.stderr}`);
  }
}

/** Starts `interop/python/<script>` with `args`. */
export function startPython(script: string, args: readonly string[]): LineProcess {
  // -B: no __pycache__ in the repository.
  const child = spawn(python, ["-B", join(pythonDir, script), ...args], { stdio: ["pipe", "pipe", "pipe"] });
  return new LineProcess(`python ${script}`, child);
}

/** Starts the Python worker serving example.v1.MathTasks and waits for its `ready` line. */
export async function startPythonWorker(args: readonly string[]): Promise<{ process: LineProcess; id: string }> {
  // Stops by itself if this process goes away without killing it.
  const worker = startPython("run_worker.py", [...args, "--exit-with-stdin"]);
  const ready = await worker.waitFor(/^ready /);
  return { process: worker, id: ready.slice("ready ".length) };
}

/** One report as the Python caller prints it. */
export interface PythonReport {
  readonly id: string;
  readonly status: string;
  readonly attempt: number;
  readonly workerId: string;
  readonly atMs: number;
  readonly response?: Record<string, unknown>;
  readonly progress?: { readonly percent: number; readonly message: string };
  readonly error?: { readonly code: string; readonly message: string; readonly retryable: boolean };
  readonly nextAttemptAtMs?: number;
  /** On `sent` only: the task's `not_before_ms` and `deadline_ms`. */
  readonly notBeforeMs?: number;
  readonly deadlineMs?: number;
}

/** Runs the Python caller to the end and returns the reports it printed, final last. */
export async function pythonCall(caller: LineProcess): Promise<PythonReport[]> {
  const code = await caller.exited;
  const reports = caller.lines.map((line) => JSON.parse(line) as PythonReport);
  if (code !== 0) throw caller.failure(`exited with ${code}`);
  return reports;
}
