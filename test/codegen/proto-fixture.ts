import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { create, fromBinary } from "@bufbuild/protobuf";
import { type CodeGeneratorRequest, CodeGeneratorRequestSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { toolPaths } from "../../codegen/generate.js";

/** The repository root. */
export const repoRoot: string = join(import.meta.dirname, "..", "..");

/**
 * A scratch directory inside the repository (`.tmp/`, git-ignored), so that generated
 * code there resolves `@bufbuild/protobuf` and `@types/node` from the repo's node_modules.
 * Removed by the returned `dispose`.
 */
export function scratchDir(prefix: string): { readonly path: string; [Symbol.dispose](): void } {
  mkdirSync(join(repoRoot, ".tmp"), { recursive: true });
  const path = mkdtempSync(join(repoRoot, ".tmp", `${prefix}-`));
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

/** Writes `files` (path → text) under `dir`. */
export function writeFiles(dir: string, files: Readonly<Record<string, string>>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
}

/** Copies the repository's `proto/dingo` (options.proto, envelope.proto) into `dir`. */
export function copyDingoProtos(dir: string): void {
  cpSync(join(repoRoot, "proto", "dingo"), join(dir, "dingo"), { recursive: true });
}

/** Runs the npm buf binary; throws with its stderr on failure. */
export function buf(args: readonly string[], cwd: string): string {
  return execFileSync(process.execPath, [toolPaths.buf, ...args], {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/**
 * Compiles inline `.proto` sources with buf and returns the CodeGeneratorRequest protoc
 * or buf would send a plugin for them: every file (with imports and source info) in
 * `proto_file`, the given files in `file_to_generate`.
 *
 * `dingo/v1/options.proto` is available to import.
 */
export function codeGeneratorRequest(files: Readonly<Record<string, string>>, parameter = ""): CodeGeneratorRequest {
  using dir = scratchDir("request");
  writeFiles(dir.path, files);
  copyDingoProtos(dir.path);
  buf(["build", ".", "--as-file-descriptor-set", "-o", "image.binpb"], dir.path);
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(join(dir.path, "image.binpb")));
  return create(CodeGeneratorRequestSchema, {
    fileToGenerate: Object.keys(files),
    parameter,
    protoFile: set.file,
  });
}
