/**
 * Turns the readable vector definitions into golden vectors (bytes plus canonical proto3
 * JSON), and compares them with the files in this folder. Used by generate-vectors.ts (which
 * writes or checks the files) and by test/golden-vectors.test.ts (which reuses the JSON
 * mapping to hold index.json to its canonical form).
 */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Progress, Report, Task } from "../../generated/dingo/v1/envelope_pb.js";
import { vectorDefinitions } from "./vector-definitions.js";

/** A JSON value, as JSON.parse returns it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

/** A JSON object. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** The envelope types a vector can hold. */
export type VectorType = "dingo.v1.Task" | "dingo.v1.Report";

/** One entry of index.json. */
export interface VectorIndexEntry {
  readonly name: string;
  readonly type: VectorType;
  /** `<name>.bin`, relative to index.json. */
  readonly file: string;
  readonly description: string;
  /** The message in the canonical proto3 JSON mapping. */
  readonly json: JsonObject;
  /**
   * Only for reports whose payload is a `dingo.v1` message (PROGRESS): that message's type
   * and canonical JSON, so that the nested bytes can be checked too.
   */
  readonly payloadMessage?: { readonly type: "dingo.v1.Progress"; readonly json: JsonObject };
}

/** The whole of index.json. */
export interface VectorIndex {
  readonly contract: "dingo.v1";
  readonly vectors: readonly VectorIndexEntry[];
}

/** The folder of the vector files (this file's own folder). */
export const vectorsDirectory: string = fileURLToPath(new URL(".", import.meta.url));

/** Name of the index file in {@link vectorsDirectory}. */
export const indexFileName = "index.json";

/**
 * The int64 fields of each message, by JSON name: the proto3 JSON mapping writes int64 as a
 * decimal string, while ts-proto's toJSON (with forceLong=number) writes a number.
 */
const int64Fields: Readonly<Record<VectorType, readonly string[]>> = {
  "dingo.v1.Task": ["createdAtMs", "notBeforeMs", "deadlineMs"],
  "dingo.v1.Report": ["atMs", "nextAttemptAtMs"],
};

/**
 * A Task or Report in the canonical proto3 JSON mapping: lowerCamelCase names, defaults
 * omitted, int64 as decimal strings, bytes as standard base64, enums by name, doubles as
 * numbers, map entries in key order.
 *
 * ts-proto's toJSON already does all but two of these; this fixes int64 and map order.
 */
export function canonicalJson(type: VectorType, message: Task | Report): JsonObject {
  const json =
    type === "dingo.v1.Task"
      ? (Task.toJSON(message as Task) as JsonObject)
      : (Report.toJSON(message as Report) as JsonObject);
  for (const field of int64Fields[type]) {
    const value = json[field];
    if (typeof value === "number") json[field] = String(value);
  }
  const headers = json.headers;
  if (typeof headers === "object" && headers !== null && !Array.isArray(headers)) {
    json.headers = sortedByKey(headers);
  }
  return json;
}

/** A Progress in the canonical proto3 JSON mapping (it has no int64 or map field). */
export function canonicalProgressJson(progress: Progress): JsonObject {
  return Progress.toJSON(progress) as JsonObject;
}

/**
 * Compares strings by their UTF-8 bytes, the order deterministic protobuf serializers
 * write map entries in. (JavaScript's `<` compares UTF-16 code units, which differs for
 * characters beyond U+FFFF against U+E000..U+FFFF.)
 */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** A copy of `record` whose own keys are in UTF-8 byte order. */
function sortedByKey<T>(record: Readonly<Record<string, T>>): Record<string, T> {
  const sorted: Record<string, T> = {};
  for (const key of Object.keys(record).sort(compareUtf8)) sorted[key] = record[key] as T;
  return sorted;
}

/** A built vector: its index entry and its bytes. */
export interface GoldenVector {
  readonly entry: VectorIndexEntry;
  readonly bytes: Uint8Array;
}

/**
 * Builds every vector from the definitions. The bytes are ts-proto's encoding (fields in
 * number order, defaults omitted, as protoc's encoders write) of the message with its map
 * entries sorted by key, which is the canonical form deterministic serializers produce.
 */
export function buildGoldenVectors(): GoldenVector[] {
  return vectorDefinitions.map((definition) => {
    const common = { name: definition.name, file: `${definition.name}.bin`, description: definition.description };
    if (definition.type === "dingo.v1.Task") {
      const task = Task.fromPartial(definition.message);
      // ts-proto writes map entries in property order; sorting the object sorts the bytes.
      task.headers = sortedByKey(task.headers);
      const entry = { ...common, type: definition.type, json: canonicalJson(definition.type, task) };
      return { entry, bytes: Task.encode(task).finish() };
    }
    const report = Report.fromPartial(definition.message);
    if (definition.progress === undefined) {
      const entry = { ...common, type: definition.type, json: canonicalJson(definition.type, report) };
      return { entry, bytes: Report.encode(report).finish() };
    }
    const progress = Progress.fromPartial(definition.progress);
    report.payload = Progress.encode(progress).finish();
    const entry: VectorIndexEntry = {
      ...common,
      type: definition.type,
      json: canonicalJson(definition.type, report),
      payloadMessage: { type: "dingo.v1.Progress", json: canonicalProgressJson(progress) },
    };
    return { entry, bytes: Report.encode(report).finish() };
  });
}

/** The text of index.json for these vectors. */
export function renderIndex(vectors: readonly GoldenVector[]): string {
  const index: VectorIndex = { contract: "dingo.v1", vectors: vectors.map((vector) => vector.entry) };
  return `${JSON.stringify(index, undefined, 2)}\n`;
}

/** Every file the vectors consist of, by name, with its expected content. */
function expectedFiles(vectors: readonly GoldenVector[]): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const vector of vectors) {
    if (files.has(vector.entry.file)) throw new Error(`two vectors are named ${vector.entry.name}`);
    files.set(vector.entry.file, vector.bytes);
  }
  files.set(indexFileName, Buffer.from(renderIndex(vectors), "utf8"));
  return files;
}

/** Writes the vector files into {@link vectorsDirectory}; returns the names written. */
export async function writeGoldenVectors(vectors: readonly GoldenVector[]): Promise<string[]> {
  const files = expectedFiles(vectors);
  for (const [name, content] of files) await writeFile(join(vectorsDirectory, name), content);
  return [...files.keys()];
}

/**
 * How the files in {@link vectorsDirectory} differ from the vectors: one line per missing,
 * different or unexpected (a `.bin` no vector names) file; empty when they are current.
 */
export async function findDrift(vectors: readonly GoldenVector[]): Promise<string[]> {
  const files = expectedFiles(vectors);
  const drift: string[] = [];
  for (const [name, expected] of files) {
    let actual: Buffer;
    try {
      actual = await readFile(join(vectorsDirectory, name));
    } catch {
      drift.push(`${name}: missing`);
      continue;
    }
    if (Buffer.compare(actual, expected) !== 0) drift.push(`${name}: differs from its definition`);
  }
  for (const name of await readdir(vectorsDirectory)) {
    if (name.endsWith(".bin") && !files.has(name)) drift.push(`${name}: no vector defines it`);
  }
  return drift;
}
