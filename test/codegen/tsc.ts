import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./proto-fixture.js";

/** The result of one `tsc --noEmit` run. */
export interface TscResult {
  readonly status: number | null;
  /** Diagnostics (tsc writes them to stdout). */
  readonly output: string;
}

/**
 * Typechecks `files` with the repository's compiler settings: a tsconfig in `dir` that
 * extends the repo's tsconfig.json (strict, NodeNext, `dingo-ts` mapped to src/index.ts)
 * and checks only `files` and what they import.
 */
export function tsc(dir: string, files: readonly string[], extraOptions: Record<string, unknown> = {}): TscResult {
  const config = {
    extends: join(repoRoot, "tsconfig.json"),
    compilerOptions: {
      // Restated with absolute paths: the scratch dir may be anywhere under the repo.
      paths: { "dingo-ts": [join(repoRoot, "src", "index.ts")] },
      ...extraOptions,
    },
    files,
    include: [],
  };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(config, null, 2));
  const result = spawnSync(
    join(repoRoot, "node_modules", ".bin", "tsc"),
    ["--noEmit", "--pretty", "false", "-p", dir],
    {
      encoding: "utf8",
    },
  );
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
