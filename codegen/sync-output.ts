import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { OutputDiff } from "./compare-output.js";

/**
 * Makes `outDir` match freshly generated files: writes changed and missing files and
 * deletes extra generated ones (a renamed or removed `.proto` leaves nothing behind).
 * Unchanged files are not touched, so their mtimes do not trigger rebuilds.
 */
export async function syncOutput(generatedDir: string, outDir: string, diff: OutputDiff): Promise<void> {
  for (const file of [...diff.changed, ...diff.missing]) {
    await mkdir(dirname(join(outDir, file)), { recursive: true });
    await copyFile(join(generatedDir, file), join(outDir, file));
  }
  for (const file of diff.extra) await rm(join(outDir, file));
}
