/**
 * An error the CLI reports as is: its message is the whole diagnostic, printed as
 * `dingo: <message>` with no stack trace, and the process exits with `exitCode`.
 */
export class CliError extends Error {
  override readonly name = "CliError";

  constructor(
    message: string,
    /** The process exit code. */
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
