import { execFile } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Options of {@link generate}. */
export interface GenerateOptions {
  /**
   * Root of the `.proto` files: import paths and output paths are relative to it
   * (`<protoDir>/example/v1/math.proto` → `<outDir>/example/v1/math_dingo.ts`).
   */
  readonly protoDir: string;
  /** Where to write. Created if missing; files are overwritten, others left alone. */
  readonly outDir: string;
}

/**
 * The ts-proto options every dingo project uses. The runtime and the generated
 * definitions rely on them (`_pb` file suffix, `.js` import suffix, `MessageFns` codecs,
 * numbers for 64-bit integers), so they are fixed, not configurable.
 */
export const tsProtoOptions: readonly string[] = [
  "esModuleInterop=true",
  "env=both",
  "importSuffix=.js",
  "outputServices=none",
  "oneof=unions-value",
  "useOptionals=messages",
  "useDate=false",
  "annotateFilesWithVersion=false",
  "forceLong=number",
  "fileSuffix=_pb",
];

const packageRoot = fileURLToPath(new URL("..", import.meta.url));
const require = createRequire(import.meta.url);

/** Where the tools live: resolved from this package's dependencies, never from PATH. */
export const toolPaths = {
  /** The npm `@bufbuild/buf` launcher script (it execs the platform binary). */
  buf: require.resolve("@bufbuild/buf/bin/buf"),
  /** ts-proto's plugin script. */
  tsProto: require.resolve("ts-proto/protoc-gen-ts_proto"),
  /** Our plugin's launcher. */
  protocGenDingo: join(packageRoot, "bin", "protoc-gen-dingo.js"),
  /** The directory holding `dingo/v1/options.proto`, added as an import root when needed. */
  dingoProto: join(packageRoot, "proto"),
} as const;

/**
 * Runs `buf generate` over `protoDir` into `outDir` with ts-proto and protoc-gen-dingo.
 *
 * `dingo/v1/options.proto` is made importable without the user copying it: unless
 * `protoDir` has its own copy, this package's `proto/` joins the build as a second
 * module of a buf v2 workspace given with `--config`; only the user's module is the
 * input (ts-proto still emits the imported files it references, as it always does:
 * `dingo/v1/options_pb.ts`, `google/protobuf/descriptor_pb.ts`). buf requires workspace module paths to be relative
 * and inside the working directory, so buf runs in the closest common ancestor of the
 * two roots — which also makes buf's error messages show paths the user recognizes.
 * Any `buf.yaml` in `protoDir` is ignored: projects with buf dependencies should use
 * their own `buf.gen.yaml` (see the repository's `buf.gen.yaml`).
 *
 * Works offline: buf compiles in-process and has the well-known types built in.
 * Rejects with buf's diagnostics (compiler errors, plugin errors) as the message.
 *
 * @example
 * ```ts
 * await generate({ protoDir: "proto", outDir: "generated" });
 * ```
 */
export async function generate(options: GenerateOptions): Promise<void> {
  const protoDir = resolve(options.protoDir);
  const outDir = resolve(options.outDir);
  if (!existsSync(protoDir) || !statSync(protoDir).isDirectory()) {
    throw new Error(`proto directory not found: ${options.protoDir}`);
  }
  const roots = [protoDir];
  if (!existsSync(join(protoDir, "dingo", "v1", "options.proto"))) {
    if (contains(protoDir, toolPaths.dingoProto) || contains(toolPaths.dingoProto, protoDir)) {
      throw new Error(
        `proto directory ${options.protoDir} overlaps dingo's own ${toolPaths.dingoProto}; point --proto at your proto root`,
      );
    }
    roots.push(toolPaths.dingoProto);
  }
  const cwd = commonAncestor(roots);
  const config = { version: "v2", modules: roots.map((root) => ({ path: relative(cwd, root) || "." })) };
  const template = {
    version: "v2",
    plugins: [
      // `strategy: all` runs each plugin once instead of once per directory.
      { local: [process.execPath, toolPaths.tsProto], out: outDir, strategy: "all", opt: [...tsProtoOptions] },
      { local: [process.execPath, toolPaths.protocGenDingo], out: outDir, strategy: "all" },
    ],
  };
  const args = [toolPaths.buf, "generate", relative(cwd, protoDir) || ".", "--config", JSON.stringify(config)];
  args.push("--template", JSON.stringify(template), "--error-format", "text");
  await new Promise<void>((done, fail) => {
    execFile(process.execPath, args, { cwd, maxBuffer: 64 << 20 }, (error, _stdout, stderr) => {
      if (error === null) return done();
      const message = (stderr.trim() || error.message)
        // "Failure: plugin /usr/bin/node /…/bin/protoc-gen-dingo.js: msg" → "protoc-gen-dingo: msg"
        .replace(/^Failure: plugin .*?(protoc-gen-[\w-]+)(?:\.js)?: /m, "$1: ")
        .replace(/^Failure: /m, "buf generate: ");
      fail(new Error(message));
    });
  });
}

function contains(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

function commonAncestor(paths: readonly string[]): string {
  let ancestor = paths[0] ?? sep;
  while (!paths.every((p) => contains(ancestor, p))) ancestor = dirname(ancestor);
  return ancestor;
}
