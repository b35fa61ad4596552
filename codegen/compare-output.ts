import type { Dirent } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** How an output directory differs from freshly generated files. Paths are relative, `/`-separated, sorted. */
export interface OutputDiff {
  /** Generated and present, with different content. */
  readonly changed: readonly string[];
  /** Generated but absent from the output directory. */
  readonly missing: readonly string[];
  /** Generated files in the output directory that generation no longer produces. */
  readonly extra: readonly string[];
}

/**
 * Whether a file was written by a code generator: its first line is the
 * `// Code generated … DO NOT EDIT.` marker that ts-proto and protoc-gen-dingo write.
 * Only such files are ever reported as extra or deleted, so hand-written files next to
 * generated ones are safe.
 */
export function isGeneratedFile(content: string): boolean {
  const firstLine = content.slice(0, content.indexOf("\n") >>> 0);
  return firstLine.startsWith("// Code generated ") && firstLine.includes("DO NOT EDIT");
}

/** Compares freshly generated files (`generatedDir`) with an output directory. */
export async function compareOutput(generatedDir: string, outDir: string): Promise<OutputDiff> {
  const fresh = await listFiles(generatedDir);
  const existing = new Set(await listFiles(outDir));
  const changed: string[] = [];
  const missing: string[] = [];
  for (const file of fresh) {
    if (!existing.has(file)) {
      missing.push(file);
    } else if (!(await readFile(join(generatedDir, file))).equals(await readFile(join(outDir, file)))) {
      changed.push(file);
    }
  }
  const freshSet = new Set(fresh);
  const extra: string[] = [];
  for (const file of existing) {
    if (!freshSet.has(file) && isGeneratedFile(await readFile(join(outDir, file), "utf8"))) extra.push(file);
  }
  return { changed, missing, extra: extra.sort() };
}

/** Whether an {@link OutputDiff} has no differences. */
export function isEmptyDiff(diff: OutputDiff): boolean {
  return diff.changed.length === 0 && diff.missing.length === 0 && diff.extra.length === 0;
}

/** All regular files under `dir`, relative and `/`-separated, sorted; `[]` if `dir` does not exist. */
async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const files: string[] = [];
  for (const entry of entries) {
    if (entry.isDirectory()) files.push(...(await listFiles(join(dir, entry.name), `${prefix}${entry.name}/`)));
    else if (entry.isFile()) files.push(`${prefix}${entry.name}`);
  }
  return files.sort();
}
