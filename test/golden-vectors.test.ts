/**
 * The golden vectors of the wire contract (test/vectors/) against this implementation: each
 * `.bin` decodes to the values its index.json entry describes, and encodes back to the same
 * bytes with both the hand-written codec and ts-proto's generated one. The files themselves
 * must be current with their definitions (generate-vectors.ts --check).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { Progress, Report, Status, Task } from "../generated/dingo/v1/envelope_pb.js";
import { envelopeCodec } from "../src/envelope-codec.js";
import {
  canonicalJson,
  canonicalProgressJson,
  indexFileName,
  type VectorIndex,
  type VectorIndexEntry,
  vectorsDirectory,
} from "./vectors/golden-vectors.js";

const run = promisify(execFile);
const root = join(vectorsDirectory, "..", "..");
const index = JSON.parse(await readFile(join(vectorsDirectory, indexFileName), "utf8")) as VectorIndex;

/** Fails at the first differing byte, rather than diffing 100 KiB arrays. */
function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  const length = Math.min(actual.length, expected.length);
  for (let i = 0; i < length; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(`${what}: byte ${i} is 0x${hex(actual[i])}, expected 0x${hex(expected[i])}`);
    }
  }
  assert.equal(actual.length, expected.length, `${what}: length`);
}

function hex(byte: number | undefined): string {
  return (byte ?? 0).toString(16).padStart(2, "0");
}

async function readVector(entry: VectorIndexEntry): Promise<Uint8Array> {
  return new Uint8Array(await readFile(join(vectorsDirectory, entry.file)));
}

describe("golden vectors", () => {
  it("index.json lists every .bin file, and every file it lists exists", async () => {
    assert.equal(index.contract, "dingo.v1");
    const onDisk = (await readdir(vectorsDirectory)).filter((name) => name.endsWith(".bin")).sort();
    const listed = index.vectors.map((entry) => entry.file).sort();
    assert.deepEqual(listed, onDisk);
    for (const entry of index.vectors) assert.equal(entry.file, `${entry.name}.bin`);
    assert.equal(new Set(index.vectors.map((entry) => entry.name)).size, index.vectors.length, "names are unique");
  });

  it("has a Report for every status and a Task", () => {
    const statuses = new Set(
      index.vectors.filter((entry) => entry.type === "dingo.v1.Report").map((entry) => entry.json.status),
    );
    const expected = Object.keys(Status).filter((name) => name.startsWith("STATUS_") && name !== "STATUS_UNSPECIFIED");
    assert.deepEqual([...statuses].sort(), expected.sort());
    assert.ok(index.vectors.some((entry) => entry.type === "dingo.v1.Task"));
  });

  it("are current with their definitions (generate-vectors.ts --check)", async () => {
    const { stdout } = await run(
      process.execPath,
      ["--import", "tsx", join(vectorsDirectory, "generate-vectors.ts"), "--check"],
      { cwd: root, timeout: 60_000 },
    );
    assert.match(stdout, /golden vectors are current/);
  });

  for (const entry of index.vectors) {
    describe(entry.name, () => {
      if (entry.type === "dingo.v1.Task") {
        it("decodes to the values of its JSON, in canonical form", async () => {
          const decoded = envelopeCodec.decodeTask(await readVector(entry));
          assert.deepStrictEqual(decoded, Task.fromJSON(entry.json));
          assert.deepStrictEqual(canonicalJson(entry.type, decoded), entry.json);
        });
        it("re-encodes to the same bytes", async () => {
          const bytes = await readVector(entry);
          assertSameBytes(envelopeCodec.encodeTask(envelopeCodec.decodeTask(bytes)), bytes, "envelopeCodec");
        });
        it("is what ts-proto's encoder writes for its JSON", async () => {
          assertSameBytes(Task.encode(Task.fromJSON(entry.json)).finish(), await readVector(entry), "ts-proto");
        });
        return;
      }
      it("decodes to the values of its JSON, in canonical form", async () => {
        const decoded = envelopeCodec.decodeReport(await readVector(entry));
        assert.deepStrictEqual(decoded, Report.fromJSON(entry.json));
        assert.deepStrictEqual(canonicalJson(entry.type, decoded), entry.json);
      });
      it("re-encodes to the same bytes", async () => {
        const bytes = await readVector(entry);
        assertSameBytes(envelopeCodec.encodeReport(envelopeCodec.decodeReport(bytes)), bytes, "envelopeCodec");
      });
      it("is what ts-proto's encoder writes for its JSON", async () => {
        assertSameBytes(Report.encode(Report.fromJSON(entry.json)).finish(), await readVector(entry), "ts-proto");
      });
      const payloadMessage = entry.payloadMessage;
      if (payloadMessage !== undefined) {
        it(`has a ${payloadMessage.type} payload with the values of its JSON, byte for byte`, async () => {
          const payload = envelopeCodec.decodeReport(await readVector(entry)).payload;
          const progress = envelopeCodec.decodeProgress(payload);
          assert.deepStrictEqual(progress, Progress.fromJSON(payloadMessage.json));
          assert.deepStrictEqual(canonicalProgressJson(progress), payloadMessage.json);
          assertSameBytes(envelopeCodec.encodeProgress(progress), payload, "envelopeCodec");
          assertSameBytes(Progress.encode(progress).finish(), payload, "ts-proto");
        });
      }
    });
  }
});
