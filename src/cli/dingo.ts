import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { createBenchCommand } from "./bench-command.js";
import { createCallCommand } from "./call-command.js";
import { CliError } from "./cli-error.js";
import { createDeadCommand } from "./dead-command.js";
import { createGenCommand } from "./gen-command.js";
import { createInspectCommand } from "./inspect-command.js";
import { createWorkerCommand } from "./worker-command.js";

const version = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/**
 * The `dingo` command line: one subcommand per file in `src/cli/` (`gen-command.ts`
 * → `dingo gen`, `worker-command.ts` → `dingo worker`, `call-command.ts` → `dingo call`). A new command is a `createXCommand()` added here.
 */
export function createProgram(): Command {
  const program = new Command("dingo")
    .description("dingo: schema-first typed tasks. Protobuf services in, typed clients and workers out.")
    .version(version, "-v, --version", "print the dingo version")
    .helpOption("-h, --help", "show help")
    .helpCommand("help [command]", "show help for a command")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .addHelpText("after", "\nRun `dingo help <command>` for the options of a command.");
  for (const command of [
    createGenCommand(),
    createWorkerCommand(),
    createCallCommand(),
    createBenchCommand(),
    createInspectCommand(),
    createDeadCommand(),
  ]) {
    program.addCommand(inheritSettings(command, program));
  }
  return program;
}

/**
 * addCommand() does not pass settings down; without this a subcommand's usage error
 * would call process.exit() itself instead of returning through runCli. Nested
 * subcommands (`dingo dead list`) get them too.
 */
function inheritSettings(command: Command, parent: Command): Command {
  command.copyInheritedSettings(parent);
  for (const child of command.commands) inheritSettings(child, command);
  return command;
}

/**
 * Runs the CLI on `argv` (as `process.argv`) and resolves to the exit code.
 *
 * Failures print one `dingo: <message>` line (more only when the message itself lists
 * things, like the files `gen --check` found stale) and never a stack trace; set
 * `DINGO_DEBUG=1` to get the stack of unexpected errors.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    // Commander already printed its own message (usage errors) or the help/version.
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof CliError) {
      process.stderr.write(`dingo: ${error.message}\n`);
      return error.exitCode;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`dingo: ${message}\n`);
    if (process.env.DINGO_DEBUG && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}
