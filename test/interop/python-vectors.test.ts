/**
 * The golden vectors (test/vectors/) hold for Python's protobuf runtime too: the Python
 * checker (interop/python/check_vectors.py) decodes every vector to its described values
 * and re-encodes it byte for byte.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { python, pythonDir, requirePython } from "./python-process.js";

const run = promisify(execFile);
const vectors = join(dirname(fileURLToPath(import.meta.url)), "../vectors");
const indexFile = join(vectors, "index.json");

interface VectorIndex {
  readonly vectors: readonly { readonly name: string; readonly file: string }[];
}

const skip = existsSync(indexFile) ? ((await requirePython()) ?? false) : "test/vectors/index.json does not exist yet";

/** Runs the checker on `directory`; its exit code and stdout lines. */
async function checkVectors(directory: string): Promise<{ code: number; lines: string[] }> {
  const result = await run(python, ["-B", join(pythonDir, "check_vectors.py"), directory]).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );
  return { code: result.code, lines: result.stdout.trim().split("\n") };
}

describe("the golden vectors in Python", { skip }, () => {
  const scratch = mkdtempSync(join(tmpdir(), "dingo-vectors-"));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it("decode to their described values and re-encode byte for byte", async () => {
    const index = JSON.parse(readFileSync(indexFile, "utf8")) as VectorIndex;
    const { code, lines } = await checkVectors(vectors);
    assert.deepEqual(
      lines,
      index.vectors.map((vector) => `ok ${vector.name}`),
    );
    assert.equal(code, 0);
  });

  // task-minimal has attempt 1. Appending field 4 (attempt) once more overrides it.
  for (const [what, extra, why] of [
    ["bytes that decode to other values", [0x20, 0x07], /^FAIL task-minimal: decodes to/],
    ["bytes that are not the canonical encoding", [0x20, 0x01], /^FAIL task-minimal: re-encodes to/],
  ] as const) {
    it(`catches a vector with ${what}`, async () => {
      const copy = join(scratch, `vectors-${extra.join("-")}`);
      cpSync(vectors, copy, { recursive: true });
      const index = JSON.parse(readFileSync(join(copy, "index.json"), "utf8")) as VectorIndex;
      const victim = index.vectors.find((vector) => vector.name === "task-minimal");
      assert.ok(victim !== undefined);
      const bytes = readFileSync(join(copy, victim.file));
      writeFileSync(join(copy, victim.file), Buffer.concat([bytes, Buffer.from(extra)]));
      const { code, lines } = await checkVectors(copy);
      assert.equal(code, 1);
      const failures = lines.filter((line) => !line.startsWith("ok "));
      assert.equal(failures.length, 1, failures.join("\n"));
      assert.match(failures[0] ?? "", why);
    });
  }

  it("catches a PROGRESS vector whose payload differs from its payloadMessage", async () => {
    const copy = join(scratch, "vectors-progress");
    cpSync(vectors, copy, { recursive: true });
    const index = JSON.parse(readFileSync(join(copy, "index.json"), "utf8")) as {
      vectors: { name: string; payloadMessage?: { json: { message?: string } } }[];
    };
    const victim = index.vectors.find((vector) => vector.payloadMessage !== undefined);
    assert.ok(victim?.payloadMessage !== undefined);
    victim.payloadMessage.json.message = "not what the payload says";
    writeFileSync(join(copy, "index.json"), JSON.stringify(index));
    const { code, lines } = await checkVectors(copy);
    assert.equal(code, 1);
    assert.deepEqual(
      lines.filter((line) => !line.startsWith("ok ")).map((line) => line.split(": ").slice(0, 2).join(": ")),
      [`FAIL ${victim.name}: payload`],
    );
  });
});
