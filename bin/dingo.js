#!/usr/bin/env node
// dingo: the command line. The CLI is TypeScript; tsx compiles it on load.
import { register } from "tsx/esm/api";

register({ tsconfig: new URL("../tsconfig.json", import.meta.url).pathname });
const { runCli } = await import("../src/cli/dingo.ts");
process.exitCode = await runCli(process.argv);
