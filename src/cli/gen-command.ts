import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { compareOutput, isEmptyDiff, type OutputDiff } from "../../codegen/compare-output.js";
import { generate } from "../../codegen/generate.js";
import { syncOutput } from "../../codegen/sync-output.js";
import { CliError } from "./cli-error.js";

interface GenFlags {
  readonly proto: string;
  readonly out: string;
  readonly check?: boolean;
}

/**
 * `dingo gen`: compiles the `.proto` files under `--proto` into ts-proto codecs and
 * dingo service definitions under `--out`. With `--check`, writes nothing and fails
 * when `--out` is not what generation would produce (for CI).
 */
export function createGenCommand(): Command {
  return new Command("gen")
    .summary("generate TypeScript from .proto files")
    .description(
      "Generate ts-proto message codecs (<name>_pb.ts) and dingo service definitions\n" +
        "(<name>_dingo.ts) for every .proto file under --proto, into --out.\n\n" +
        "dingo/v1/options.proto is importable without copying it. Files in --out that\n" +
        "generation no longer produces are deleted if they carry a generated-code header;\n" +
        "other files are left alone.",
    )
    .option("--proto <dir>", "root directory of the .proto files", "proto")
    .option("--out <dir>", "output directory", "generated")
    .option("--check", "write nothing; exit 1 if --out is not up to date")
    .addHelpText(
      "after",
      "\nExamples:\n  $ dingo gen\n  $ dingo gen --proto api/proto --out src/gen\n  $ dingo gen --check   # in CI",
    )
    .action(async (flags: GenFlags) => {
      const temp = await mkdtemp(join(tmpdir(), "dingo-gen-"));
      try {
        // Always generate aside and then compare: --check needs it, and a plain run can
        // then touch only files that changed and remove stale ones.
        await generate({ protoDir: flags.proto, outDir: temp });
        const diff = await compareOutput(temp, flags.out);
        if (flags.check) {
          if (!isEmptyDiff(diff)) {
            throw new CliError(`${flags.out} is not up to date; run \`dingo gen\`:\n${describe(diff, checkLabels)}`);
          }
          process.stdout.write(`${flags.out} is up to date\n`);
          return;
        }
        await syncOutput(temp, flags.out, diff);
        process.stdout.write(isEmptyDiff(diff) ? `${flags.out} is up to date\n` : `${describe(diff, writeLabels)}\n`);
      } finally {
        await rm(temp, { recursive: true, force: true });
      }
    });
}

const checkLabels = { changed: "differs:", missing: "missing:", extra: "extra:  " } as const;
const writeLabels = { changed: "updated:", missing: "created:", extra: "deleted:" } as const;

function describe(diff: OutputDiff, labels: { readonly [K in keyof OutputDiff]: string }): string {
  return [
    ...diff.changed.map((f) => `  ${labels.changed} ${f}`),
    ...diff.missing.map((f) => `  ${labels.missing} ${f}`),
    ...diff.extra.map((f) => `  ${labels.extra} ${f}`),
  ].join("\n");
}
