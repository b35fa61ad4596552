import assert from "node:assert/strict";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { generate } from "../../codegen/generate.js";
import { scratchDir, writeFiles } from "./proto-fixture.js";
import { tsc } from "./tsc.js";

const protos = {
  "acme/common/v1/types.proto": `
    syntax = "proto3";
    package acme.common.v1;
    message Payload { string data = 1; repeated int64 ids = 2; map<string, Payload> children = 3; }
    message Outer { message Inner_msg { oneof kind { int32 x = 1; string y = 2; } } }
    message Req { int32 n = 1; }`,
  "acme/jobs/v1/jobs.proto": `
    syntax = "proto3";
    package acme.jobs.v1;
    import "acme/common/v1/types.proto";
    import "dingo/v1/options.proto";
    import "google/protobuf/empty.proto";
    import "google/protobuf/timestamp.proto";
    import "google/protobuf/wrappers.proto";
    import "google/protobuf/struct.proto";

    // Jobs of the acme service.
    service Jobs {
      option (dingo.v1.defaults) = { queue: "jobs", backoff_multiplier: 1.5 };
      // Runs a job.
      rpc Run(acme.common.v1.Payload) returns (google.protobuf.Empty) {
        option (dingo.v1.task) = { priority: 9, backoff_jitter: 0.5 };
      }
      rpc Nested(acme.common.v1.Outer.Inner_msg) returns (Req);
      rpc Clash(acme.common.v1.Req) returns (Client);
      rpc When(google.protobuf.Timestamp) returns (Date);
    }
    service Other {
      rpc Ping(Req) returns (Req);
      rpc Wrap(google.protobuf.StringValue) returns (google.protobuf.Struct);
    }
    message Req { int32 m = 1; }
    message Client { int32 c = 1; }
    message Date { int32 d = 1; }`,
};

// Uses the generated code the way an application does, so the check covers the
// definitions against the runtime's mapped types, not just the files on their own.
const usage = `
import { type Client, createClient, createMemoryTransport, type ServiceHandlers } from "dingo-ts";
import { Jobs, type JobsClient, type JobsHandlers, Other } from "./gen/acme/jobs/v1/jobs_dingo.js";

const handlers: JobsHandlers = {
  run: async (request) => (request.data.length + request.ids.length > 0 ? {} : {}),
  nested: (request) => ({ m: request.kind?.$case === "x" ? request.kind.value : 0 }),
  clash: (request) => ({ c: request.n }),
  when: (request) => ({ d: request.seconds }),
};
export const mapped: ServiceHandlers<typeof Jobs> = handlers;
export const client: JobsClient = createClient(Jobs, createMemoryTransport());
export const other: Client<typeof Other> = createClient(Other, createMemoryTransport());
export const priority: 9 = Jobs.methods.run.options.priority;
`;

test("generated code typechecks against the runtime (strict, NodeNext, noUnusedLocals)", async () => {
  using dir = scratchDir("typecheck");
  // The proto dir has no copy of dingo/v1/options.proto: generate() must supply it.
  writeFiles(join(dir.path, "proto"), protos);
  await generate({ protoDir: join(dir.path, "proto"), outDir: join(dir.path, "gen") });
  const generated = readdirSync(join(dir.path, "gen"), { recursive: true, encoding: "utf8" }).filter((f) =>
    f.endsWith(".ts"),
  );
  assert.ok(generated.includes(join("acme", "jobs", "v1", "jobs_dingo.ts")), generated.join(", "));
  assert.ok(!generated.includes(join("acme", "common", "v1", "types_dingo.ts")), "no services, no _dingo file");
  writeFileSync(join(dir.path, "usage.ts"), usage);
  const result = tsc(
    dir.path,
    [
      join(dir.path, "usage.ts"),
      ...generated.filter((f) => f.endsWith("_dingo.ts")).map((f) => join(dir.path, "gen", f)),
    ],
    { noUnusedLocals: true },
  );
  assert.equal(result.status, 0, result.output);
});

test("generate() reports compile errors with the user's paths", async () => {
  using dir = scratchDir("generate-error");
  writeFiles(join(dir.path, "proto"), {
    "x/v1/x.proto": 'syntax = "proto3";\npackage x.v1;\nimport "x/v1/missing.proto";\n',
  });
  await assert.rejects(
    generate({ protoDir: join(dir.path, "proto"), outDir: join(dir.path, "gen") }),
    (error: Error) => {
      assert.match(error.message, /proto\/x\/v1\/x\.proto:3:1:.*(not found|does not exist)/);
      return true;
    },
  );
});

test("generate() reports plugin errors as one line naming the plugin", async () => {
  using dir = scratchDir("generate-plugin-error");
  writeFiles(join(dir.path, "proto"), {
    "x/v1/x.proto": 'syntax = "proto3";\npackage x.v1;\nservice S { rpc W(M) returns (stream M); }\nmessage M {}\n',
  });
  await assert.rejects(generate({ protoDir: join(dir.path, "proto"), outDir: join(dir.path, "gen") }), {
    message:
      "protoc-gen-dingo: x/v1/x.proto: x.v1.S.W: server streaming rpcs cannot be tasks; a task takes one request and returns one response",
  });
});
