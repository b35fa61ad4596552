import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { test } from "node:test";
import { generate, toolPaths, tsProtoOptions } from "../../codegen/generate.js";
import { buf, repoRoot, scratchDir, writeFiles } from "./proto-fixture.js";

const userProtos = {
  "acme/jobs/v1/jobs.proto": `
    syntax = "proto3";
    package acme.jobs.v1;
    import "dingo/v1/options.proto";
    import "acme/common/v1/types.proto";
    // Jobs.
    service Jobs {
      option (dingo.v1.defaults) = { max_attempts: 4 };
      // Runs one.
      rpc Run(acme.common.v1.Payload) returns (RunResult) { option (dingo.v1.task) = { timeout_ms: 50 }; }
    }
    message RunResult { bool ok = 1; }`,
  "acme/common/v1/types.proto": 'syntax = "proto3";\npackage acme.common.v1;\nmessage Payload { string data = 1; }\n',
};

/** `{ relative path → content }` of every file under `dir`. */
function readTree(dir: string): Record<string, string> {
  const tree: Record<string, string> = {};
  for (const file of readdirSync(dir, { recursive: true, encoding: "utf8" }).sort()) {
    const path = join(dir, file);
    if (statSync(path).isFile()) tree[file.split(sep).join("/")] = readFileSync(path, "utf8");
  }
  return tree;
}

/** A project laid out the way the root buf.gen.yaml recommends: dingo's protos as a second buf module. */
function userProject(dir: string): void {
  writeFiles(join(dir, "proto"), userProtos);
  cpSync(join(repoRoot, "proto", "dingo"), join(dir, "vendor", "dingo"), { recursive: true });
  writeFiles(dir, {
    "buf.yaml": "version: v2\nmodules:\n  - path: proto\n  - path: vendor\n",
    "buf.gen.yaml": [
      "version: v2",
      "plugins:",
      `  - local: ["node", ${JSON.stringify(toolPaths.protocGenDingo)}]`,
      "    out: gen-buf",
      "    opt: runtime_import=dingo-ts",
      `  - local: ["node", ${JSON.stringify(toolPaths.tsProto)}]`,
      "    out: gen-buf",
      `    opt: ${tsProtoOptions.join(",")}`,
      "",
    ].join("\n"),
  });
}

test("a user's own buf.gen.yaml runs protoc-gen-dingo through bin/protoc-gen-dingo.js", () => {
  using dir = scratchDir("buf-user");
  userProject(dir.path);
  buf(["generate", "proto"], dir.path);
  const tree = readTree(join(dir.path, "gen-buf"));
  assert.deepEqual(
    Object.keys(tree).filter((f) => f.endsWith("_dingo.ts")),
    ["acme/jobs/v1/jobs_dingo.ts"],
  );
  const content = tree["acme/jobs/v1/jobs_dingo.ts"] ?? "";
  assert.match(content, /import \{ Payload \} from "\.\.\/\.\.\/common\/v1\/types_pb\.js";/);
  assert.match(content, /defaults: \{ maxAttempts: 4 \},/);
  assert.match(content, /options: \{ timeoutMs: 50 \},/);
  assert.ok("acme/common/v1/types_pb.ts" in tree);
});

/**
 * The include directory holding google/protobuf/descriptor.proto for a protoc install,
 * or undefined. Debian's protobuf-compiler finds /usr/include itself; naming it keeps
 * other installs (a protoc release zip: <prefix>/bin/protoc + <prefix>/include) working.
 */
function protocWellKnownTypes(protoc: string): string | undefined {
  const candidates = [join(dirname(protoc), "..", "include"), "/usr/include", "/usr/local/include"];
  return candidates.find((dir) => existsSync(join(dir, "google", "protobuf", "descriptor.proto")));
}

test("protoc with --plugin=protoc-gen-dingo=bin/protoc-gen-dingo.js gives the same output as buf", (t) => {
  const which = spawnSync("sh", ["-c", "command -v protoc"], { encoding: "utf8" });
  const protoc = which.status === 0 ? which.stdout.trim() : undefined;
  if (protoc === undefined) {
    // CI installs protobuf-compiler; there a missing protoc is a broken setup, not a skip.
    assert.ok(!process.env.CI, "protoc is not on PATH but CI is set: install protobuf-compiler");
    t.skip("protoc is not on PATH (apt-get install protobuf-compiler to run this test)");
    return;
  }
  const wkt = protocWellKnownTypes(protoc);
  assert.ok(wkt !== undefined, `${protoc} found, but not google/protobuf/descriptor.proto: install libprotobuf-dev`);
  using dir = scratchDir("protoc");
  userProject(dir.path);
  buf(["generate", "proto"], dir.path);
  const out = join(dir.path, "gen-protoc");
  mkdirSync(out);
  execFileSync(
    protoc,
    [
      `--plugin=protoc-gen-dingo=${toolPaths.protocGenDingo}`,
      `--dingo_out=${out}`,
      "--dingo_opt=runtime_import=dingo-ts",
      `--plugin=protoc-gen-ts_proto=${toolPaths.tsProto}`,
      `--ts_proto_out=${out}`,
      `--ts_proto_opt=${tsProtoOptions.join(",")}`,
      "-I",
      "proto",
      "-I",
      "vendor",
      "-I",
      wkt,
      ...Object.keys(userProtos),
    ],
    { cwd: dir.path, stdio: ["ignore", "pipe", "pipe"] },
  );
  const fromBuf = readTree(join(dir.path, "gen-buf"));
  const fromProtoc = readTree(out);
  // google/protobuf/*_pb.ts differ with the descriptor.proto version protoc ships; ours must not.
  const ours = (tree: Record<string, string>) =>
    Object.fromEntries(Object.entries(tree).filter(([f]) => f.startsWith("acme/")));
  assert.deepEqual(ours(fromProtoc), ours(fromBuf));
  assert.ok("acme/jobs/v1/jobs_dingo.ts" in fromProtoc);
});

test("the root buf.gen.yaml produces exactly what dingo gen produces", async () => {
  using dir = scratchDir("root-template");
  // -o prefixes the template's `out: generated` with the scratch dir.
  buf(["generate", "proto", "-o", dir.path], repoRoot);
  await generate({ protoDir: join(repoRoot, "proto"), outDir: join(dir.path, "dingo-gen") });
  assert.deepEqual(readTree(join(dir.path, "generated")), readTree(join(dir.path, "dingo-gen")));
});
