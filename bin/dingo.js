#!/usr/bin/env node
// dingo: the command line. The CLI is TypeScript; tsx compiles it on load.
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register({ tsconfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)) });
// `dingo … | head` closes stdout early; that is not an error worth a stack trace.
process.stdout.on("error", (error) => {
  if (error.code !== "EPIPE") throw error;
  process.exit(process.exitCode ?? 0);
});
const { runCli } = await import("../src/cli/dingo.ts");
process.exitCode = await runCli(process.argv);
