/**
 * The hand-written envelope codec against ts-proto's generated code: the same bytes for
 * the same object, the same object for the same bytes, over seeded random messages, plus
 * hand-built inputs for field order, unknown fields and malformed or truncated bytes.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Failure, Progress, Report, type RetryPolicy, Task } from "../generated/dingo/v1/envelope_pb.js";
import * as envelope from "../src/envelope.js";
import { envelopeCodec } from "../src/envelope-codec.js";

// ---------------------------------------------------------------------------------------
// Seeded random messages

/** mulberry32: small, fast and good enough to spread values over every branch. */
function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Generator {
  private readonly random: () => number;

  constructor(
    seed: number,
    /** Whether strings may contain lone surrogates, which UTF-8 cannot carry (they become U+FFFD). */
    private readonly loneSurrogates = false,
  ) {
    this.random = createRandom(seed);
  }

  int(below: number): number {
    return Math.floor(this.random() * below);
  }

  chance(probability: number): boolean {
    return this.random() < probability;
  }

  pick<T>(choices: readonly T[]): T {
    return choices[this.int(choices.length)] as T;
  }

  string(): string {
    switch (this.int(8)) {
      case 0:
        return "";
      case 1:
        return this.ascii(this.int(20));
      case 2:
        return this.ascii(this.pick([31, 32, 33, 42, 43, 126, 127, 128, 129, 300, 5000, 20_000]));
      case 3:
        return "0b9f6d4e-8c1a-4f3e-9a57-2d1c3b4a5e6f";
      default:
        return this.unicode(this.pick([1, 5, 20, 42, 43, 60, 200, 3000]));
    }
  }

  ascii(length: number): string {
    let text = "";
    for (let i = 0; i < length; i++) text += String.fromCharCode(this.int(0x80));
    return text;
  }

  unicode(length: number): string {
    const pieces = [
      "a",
      "Z",
      "/",
      "\0",
      "\x7f",
      "é",
      "ß",
      "Ω",
      "€",
      "中",
      "文",
      "\u{feff}",
      "😀",
      "𝄞",
      "🚀",
      "\u{10ffff}",
    ];
    if (this.loneSurrogates) pieces.push("\ud800", "\udfff", "\udc00x");
    let text = "";
    for (let i = 0; i < length; i++) text += this.pick(pieces);
    return text;
  }

  bytes(): Uint8Array {
    const length = this.pick([0, 0, 1, 4, 127, 128, 300, 16_384, 70_000]);
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = this.int(256);
    return bytes;
  }

  uint32(): number {
    return this.pick([0, 1, 127, 128, 16_383, 16_384, 2_097_152, 268_435_456, 2 ** 31, 2 ** 32 - 1, this.int(2 ** 32)]);
  }

  int32(): number {
    return this.pick([0, 1, 2, 3, -1, 127, 128, 2 ** 31 - 1, -(2 ** 31), -this.int(2 ** 31), this.int(2 ** 31)]);
  }

  int64(): number {
    return this.pick([
      0,
      1,
      -1,
      127,
      128,
      2 ** 31,
      -(2 ** 31),
      2 ** 32 - 1,
      2 ** 32,
      -(2 ** 32),
      1_790_000_000_000,
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
      this.int(2 ** 53),
      -this.int(2 ** 53),
      this.int(2 ** 20) * 2 ** 32,
    ]);
  }

  double(): number {
    return this.pick([0, 1, 2, 0.5, -0.25, 1e-300, 1.7976931348623157e308, Number.NaN, -Infinity, this.random()]);
  }

  retry(): RetryPolicy {
    return {
      maxAttempts: this.uint32(),
      initialBackoffMs: this.uint32(),
      multiplier: this.double(),
      maxBackoffMs: this.uint32(),
      jitter: this.double(),
    };
  }

  headers(): Task["headers"] {
    const headers: Task["headers"] = {};
    const count = this.pick([0, 0, 1, 2, 5, 200]);
    for (let i = 0; i < count; i++) {
      const key = this.pick(["traceparent", "tracestate", "", "1", "42", `x-${i}`, this.string(), this.unicode(3)]);
      headers[key] = this.pick(["", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", this.string()]);
    }
    return headers;
  }

  task(): Task {
    return {
      id: this.string(),
      name: this.string(),
      payload: this.bytes(),
      attempt: this.uint32(),
      createdAtMs: this.int64(),
      replyTo: this.string(),
      reportLevel: this.int32(),
      priority: this.uint32(),
      queue: this.string(),
      notBeforeMs: this.int64(),
      deadlineMs: this.int64(),
      timeoutMs: this.uint32(),
      retry: this.chance(0.5) ? this.retry() : undefined,
      resultTtlMs: this.uint32(),
      headers: this.headers(),
    };
  }

  failure(): Failure {
    const details = [];
    const count = this.pick([0, 1, 3, 50]);
    for (let i = 0; i < count; i++) details.push({ type: this.string(), value: this.bytes() });
    return { code: this.int32(), message: this.string(), retryable: this.chance(0.5), details };
  }

  report(): Report {
    return {
      taskId: this.string(),
      name: this.string(),
      status: this.int32(),
      payload: this.bytes(),
      error: this.chance(0.5) ? this.failure() : undefined,
      attempt: this.uint32(),
      workerId: this.string(),
      atMs: this.int64(),
      nextAttemptAtMs: this.int64(),
    };
  }

  progress(): Progress {
    return {
      percent: Math.fround(this.pick([0, -1, 0.5, 33.3, 100, Number.NaN, Infinity, this.random() * 100])),
      message: this.string(),
      detail: this.bytes(),
    };
  }
}

/** A copy of a message whose every field is explicitly empty, as decoders produce. */
function emptyTask(): Task {
  return Task.fromPartial({});
}

// ---------------------------------------------------------------------------------------
// Byte helpers

function assertSameBytes(actual: Uint8Array, expected: Uint8Array, context: string): void {
  if (actual.length === expected.length && Buffer.compare(actual, expected) === 0) return;
  let index = 0;
  while (index < actual.length && actual[index] === expected[index]) index++;
  assert.fail(`${context}: bytes differ at ${index} (lengths ${actual.length} and ${expected.length})`);
}

/** Hand-built protobuf: varints from bigints so that 64-bit and over-long values are expressible. */
function varint(value: bigint | number): number[] {
  let rest = BigInt.asUintN(64, BigInt(value));
  const bytes: number[] = [];
  while (rest > 0x7fn) {
    bytes.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  bytes.push(Number(rest));
  return bytes;
}

function tag(field: number, wireType: number): number[] {
  return varint((BigInt(field) << 3n) | BigInt(wireType));
}

function delimited(field: number, content: readonly number[]): number[] {
  return [...tag(field, 2), ...varint(content.length), ...content];
}

function text(field: number, value: string): number[] {
  return delimited(field, [...new TextEncoder().encode(value)]);
}

function bytesOf(...parts: (readonly number[])[]): Uint8Array {
  return Uint8Array.from(parts.flat());
}

/** Invalid UTF-8 of every kind, and a leading byte-order mark (text, not to be dropped). */
const invalidUtf8: readonly (readonly number[])[] = [
  [0xff],
  [0xc3],
  [0x61, 0xc3, 0x28, 0x62],
  [0xe2, 0x82],
  [0xed, 0xa0, 0x80],
  [0xf0, 0x9f, 0x98],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xef, 0xbb, 0xbf, 0x61],
  [0xc0, 0xaf],
  [0xe0, 0x80, 0xaf],
  [0x80, 0xbf, 0x61],
];

/** One unknown field of every wire type, groups nested, numbered out of the way of real fields. */
const unknownFields: readonly (readonly number[])[] = [
  [...tag(1000, 0), ...varint(-1)],
  [...tag(1001, 0), 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
  [...tag(1002, 1), 1, 2, 3, 4, 5, 6, 7, 8],
  delimited(1003, [1, 2, 3]),
  delimited(1004, []),
  [...tag(1005, 3), ...tag(1, 0), 5, ...tag(7, 3), ...delimited(2, [9]), ...tag(7, 4), ...tag(1005, 4)],
  [...tag(1006, 5), 1, 2, 3, 4],
  [...tag(536_870_911, 0), 1],
];
const allUnknown = unknownFields.flat();

// ---------------------------------------------------------------------------------------

describe("envelope codec: encoding", () => {
  it("writes exactly ts-proto's bytes for random Tasks", () => {
    const generate = new Generator(1, true);
    for (let i = 0; i < 600; i++) {
      const task = generate.task();
      assertSameBytes(envelopeCodec.encodeTask(task), Task.encode(task).finish(), `task ${i}`);
    }
  });

  it("writes exactly ts-proto's bytes for random Reports", () => {
    const generate = new Generator(2, true);
    for (let i = 0; i < 600; i++) {
      const report = generate.report();
      assertSameBytes(envelopeCodec.encodeReport(report), Report.encode(report).finish(), `report ${i}`);
    }
  });

  it("writes exactly ts-proto's bytes for random Progress messages, floats rounded alike", () => {
    const generate = new Generator(3, true);
    for (let i = 0; i < 500; i++) {
      const progress = { ...generate.progress(), percent: generate.double() };
      if (Number.isFinite(progress.percent) && !Number.isFinite(Math.fround(progress.percent))) continue;
      assertSameBytes(envelopeCodec.encodeProgress(progress), Progress.encode(progress).finish(), `progress ${i}`);
    }
  });

  it("writes empty messages and all-default fields as nothing", () => {
    assert.equal(envelopeCodec.encodeTask(emptyTask()).length, 0);
    assert.equal(envelopeCodec.encodeReport(Report.fromPartial({})).length, 0);
    assert.equal(envelopeCodec.encodeProgress(Progress.fromPartial({})).length, 0);
    const defaults = { ...emptyTask(), retry: emptyRetry(), headers: { "": "" } };
    assertSameBytes(envelopeCodec.encodeTask(defaults), Task.encode(defaults).finish(), "defaults");
    assertSameBytes(envelopeCodec.encodeTask(defaults), bytesOf([154, 1, 0], [170, 1, 0]), "defaults");
  });

  it("writes int64 beyond 2^53 as ts-proto does, and negative numbers as 10 bytes", () => {
    for (const value of [2 ** 53, 2 ** 60, -(2 ** 62), 2 ** 63 - 2 ** 11, -(2 ** 63), -1, -(2 ** 31) - 1]) {
      const task = { ...emptyTask(), createdAtMs: value };
      assertSameBytes(envelopeCodec.encodeTask(task), Task.encode(task).finish(), `int64 ${value}`);
    }
    assertSameBytes(
      envelopeCodec.encodeTask({ ...emptyTask(), createdAtMs: -1 }),
      bytesOf([40], varint(-1)),
      "-1 as ten bytes",
    );
  });

  it("rejects numbers that do not fit their field, like ts-proto", () => {
    const invalid: Partial<Task>[] = [
      { attempt: -1 },
      { attempt: 1.5 },
      { priority: 2 ** 32 },
      { timeoutMs: Number.NaN },
      { reportLevel: 2 ** 31 },
      { reportLevel: 0.5 },
      { createdAtMs: 1.5 },
      { deadlineMs: 2 ** 63 },
      { notBeforeMs: Number.POSITIVE_INFINITY },
      { retry: { ...emptyRetry(), maxAttempts: -3 } },
    ];
    for (const fields of invalid) {
      const task = { ...emptyTask(), ...fields };
      assert.throws(() => Task.encode(task).finish(), `ts-proto accepts ${JSON.stringify(fields)}`);
      assert.throws(() => envelopeCodec.encodeTask(task), Error, JSON.stringify(fields));
    }
    assert.throws(() => envelopeCodec.encodeProgress({ percent: 1e39, message: "", detail: new Uint8Array(0) }));
  });

  it("returns a fresh array per encode that later encodes do not touch", () => {
    const generate = new Generator(4);
    const tasks = Array.from({ length: 50 }, () => generate.task());
    const encoded = tasks.map((task) => envelopeCodec.encodeTask(task));
    for (const [i, task] of tasks.entries()) {
      const bytes = encoded[i] as Uint8Array;
      // Typical results are views of a shared block (see claim() in envelope-codec.ts):
      // what counts is that no later encode writes into an earlier result.
      assertSameBytes(bytes, Task.encode(task).finish(), `task ${i} after later encodes`);
    }
  });

  it("carves small results from shared blocks without overlap, across many blocks and large messages", () => {
    const large = new Uint8Array(10_000).fill(3);
    const messages: (Task | Report)[] = [];
    for (let i = 0; i < 2000; i++) {
      if (i % 3 === 2) {
        messages.push({ ...Report.fromPartial({}), taskId: `task-${i}`, name: "example.v1.MathTasks/Add", atMs: i });
      } else {
        const payload = i % 97 === 0 ? large : Uint8Array.of(i & 0xff, 1, 2);
        messages.push({ ...emptyTask(), id: `task-${i}`, name: "example.v1.MathTasks/Add", payload, attempt: i });
      }
    }
    const encode = (message: Task | Report): Uint8Array =>
      "id" in message ? envelopeCodec.encodeTask(message) : envelopeCodec.encodeReport(message);
    const encoded = messages.map(encode);
    const blocks = new Set<ArrayBufferLike>();
    for (const [i, message] of messages.entries()) {
      const bytes = encoded[i] as Uint8Array;
      const expected = "id" in message ? Task.encode(message).finish() : Report.encode(message).finish();
      assertSameBytes(bytes, expected, `message ${i} after later encodes`);
      assert.equal(bytes.byteOffset % 8, 0, `message ${i} is 8-byte aligned`);
      blocks.add(bytes.buffer);
    }
    assert.ok(blocks.size > 10, `${blocks.size} buffers`);
  });

  it("handles payloads larger than the retained buffer, and small messages after them", () => {
    const generate = new Generator(5);
    const big = { ...generate.task(), payload: new Uint8Array(3 << 20).fill(7) };
    assertSameBytes(envelopeCodec.encodeTask(big), Task.encode(big).finish(), "3 MiB payload");
    const small = generate.task();
    assertSameBytes(envelopeCodec.encodeTask(small), Task.encode(small).finish(), "after the big one");
  });

  it("widens nested lengths of 128 bytes and more", () => {
    for (const length of [0, 1, 120, 121, 122, 123, 124, 125, 126, 127, 128, 16_380, 16_384, 70_000]) {
      const value = "v".repeat(length);
      const task = { ...emptyTask(), headers: { k: value, [value]: "é".repeat(length % 300) } };
      assertSameBytes(envelopeCodec.encodeTask(task), Task.encode(task).finish(), `header of ${length}`);
      const report = {
        ...Report.fromPartial({}),
        error: { code: 0, message: value, retryable: true, details: [{ type: value, value: new Uint8Array(length) }] },
      };
      assertSameBytes(envelopeCodec.encodeReport(report), Report.encode(report).finish(), `failure of ${length}`);
    }
  });
});

function emptyRetry(): RetryPolicy {
  return { maxAttempts: 0, initialBackoffMs: 0, multiplier: 0, maxBackoffMs: 0, jitter: 0 };
}

describe("envelope codec: decoding", () => {
  it("reads ts-proto's bytes into what ts-proto reads, for random Tasks", () => {
    const generate = new Generator(11, true);
    for (let i = 0; i < 600; i++) {
      const bytes = Task.encode(generate.task()).finish();
      assert.deepStrictEqual(envelopeCodec.decodeTask(bytes), Task.decode(bytes), `task ${i}`);
    }
  });

  it("reads ts-proto's bytes into what ts-proto reads, for random Reports and Progress", () => {
    const generate = new Generator(12, true);
    for (let i = 0; i < 600; i++) {
      const bytes = Report.encode(generate.report()).finish();
      assert.deepStrictEqual(envelopeCodec.decodeReport(bytes), Report.decode(bytes), `report ${i}`);
    }
    for (let i = 0; i < 300; i++) {
      const bytes = Progress.encode(generate.progress()).finish();
      assert.deepStrictEqual(envelopeCodec.decodeProgress(bytes), Progress.decode(bytes), `progress ${i}`);
    }
  });

  it("round-trips random messages", () => {
    const generate = new Generator(13);
    for (let i = 0; i < 400; i++) {
      const task = generate.task();
      assert.deepStrictEqual(envelopeCodec.decodeTask(envelopeCodec.encodeTask(task)), task, `task ${i}`);
      const report = generate.report();
      assert.deepStrictEqual(envelopeCodec.decodeReport(envelopeCodec.encodeReport(report)), report, `report ${i}`);
      const progress = generate.progress();
      assert.deepStrictEqual(envelopeCodec.decodeProgress(envelopeCodec.encodeProgress(progress)), progress);
    }
  });

  it("decodes an empty input as the empty message, with ts-proto's shape", () => {
    const empty = new Uint8Array(0);
    assert.deepStrictEqual(envelopeCodec.decodeTask(empty), Task.decode(empty));
    assert.deepStrictEqual(Object.keys(envelopeCodec.decodeTask(empty)), Object.keys(Task.decode(empty)));
    assert.deepStrictEqual(envelopeCodec.decodeReport(empty), Report.decode(empty));
    assert.deepStrictEqual(Object.keys(envelopeCodec.decodeReport(empty)), Object.keys(Report.decode(empty)));
    assert.deepStrictEqual(envelopeCodec.decodeProgress(empty), Progress.decode(empty));
    assert.deepStrictEqual(Object.keys(envelopeCodec.decodeProgress(empty)), Object.keys(Progress.decode(empty)));
  });

  it("knows every field ts-proto knows, nested messages included", () => {
    // A field added to envelope.proto shows up in ts-proto's objects first: this fails
    // until the hand-written codec reads and writes it too.
    const task = bytesOf([154, 1, 0]);
    assert.deepStrictEqual(
      Object.keys(envelopeCodec.decodeTask(task).retry ?? {}),
      Object.keys(Task.decode(task).retry ?? {}),
    );
    const report = bytesOf([42, 2, 34, 0]);
    const failure = envelopeCodec.decodeReport(report).error;
    const tsProtoFailure = Report.decode(report).error;
    assert.deepStrictEqual(Object.keys(failure ?? {}), Object.keys(tsProtoFailure ?? {}));
    assert.deepStrictEqual(Object.keys(failure?.details[0] ?? {}), Object.keys(tsProtoFailure?.details[0] ?? {}));
    assert.ok(failure?.details[0] !== undefined);
  });

  it("accepts fields in any order", () => {
    const generate = new Generator(14);
    for (let i = 0; i < 200; i++) {
      const task = generate.task();
      const fields = splitFields(Task.encode(task).finish());
      const shuffled = bytesOf(...fields.reverse());
      // Reversed map entries are the only visible difference: key order.
      const decoded = envelopeCodec.decodeTask(shuffled);
      assert.deepStrictEqual(decoded, Task.decode(shuffled), `task ${i}`);
      assert.deepStrictEqual(decoded, { ...task, headers: decoded.headers });
      assert.deepStrictEqual({ ...decoded.headers }, { ...task.headers });
    }
  });

  it("skips unknown fields of every wire type, at every level", () => {
    const bytes = bytesOf(
      allUnknown,
      text(1, "id-1"),
      allUnknown,
      [...tag(5, 0), ...varint(1_790_000_000_000)],
      delimited(19, [...allUnknown, 8, 3, ...allUnknown, 25, 0, 0, 0, 0, 0, 0, 0, 64]),
      delimited(21, [...allUnknown, ...text(1, "traceparent"), ...allUnknown, ...text(2, "00-1"), ...allUnknown]),
      allUnknown,
    );
    const expected: Task = {
      ...emptyTask(),
      id: "id-1",
      createdAtMs: 1_790_000_000_000,
      retry: { ...emptyRetry(), maxAttempts: 3, multiplier: 2 },
      headers: { traceparent: "00-1" },
    };
    assert.deepStrictEqual(envelopeCodec.decodeTask(bytes), expected);
    assert.deepStrictEqual(Task.decode(bytes), expected);

    const report = bytesOf(
      allUnknown,
      text(1, "t"),
      delimited(5, [
        ...allUnknown,
        8,
        5,
        ...delimited(4, [...allUnknown, ...text(1, "google.rpc.RetryInfo"), ...allUnknown, ...delimited(2, [1])]),
        ...allUnknown,
        24,
        1,
      ]),
      allUnknown,
    );
    const expectedReport: Report = {
      ...Report.fromPartial({}),
      taskId: "t",
      error: {
        code: 5,
        message: "",
        retryable: true,
        details: [{ type: "google.rpc.RetryInfo", value: Uint8Array.of(1) }],
      },
    };
    assert.deepStrictEqual(envelopeCodec.decodeReport(report), expectedReport);
    assert.deepStrictEqual(Report.decode(report), expectedReport);
    assert.deepStrictEqual(envelopeCodec.decodeProgress(bytesOf(allUnknown, [13, 0, 0, 0x80, 0x3f])), {
      percent: 1,
      message: "",
      detail: new Uint8Array(0),
    });
  });

  it("skips a known field number with an unexpected wire type, like ts-proto", () => {
    const bytes = bytesOf(
      [...tag(1, 0), 5], // id as a varint
      delimited(4, [1, 2]), // attempt as bytes
      [...tag(5, 1), 1, 2, 3, 4, 5, 6, 7, 8], // created_at_ms as fixed64
      [...tag(19, 0), 1], // retry as a varint
      [...tag(21, 5), 1, 2, 3, 4], // headers as fixed32
      text(2, "name"),
    );
    const expected = { ...emptyTask(), name: "name" };
    assert.deepStrictEqual(envelopeCodec.decodeTask(bytes), expected);
    assert.deepStrictEqual(Task.decode(bytes), expected);
  });

  it("keeps the last of repeated scalars and map keys, appends repeated details and merges messages", () => {
    const bytes = bytesOf(
      text(1, "first"),
      [32, 1],
      text(1, "second"),
      [32, 2],
      delimited(21, [...text(1, "k"), ...text(2, "v1")]),
      delimited(21, [...text(2, "only value")]),
      delimited(21, [...text(1, "only key")]),
      delimited(21, []),
      delimited(21, [...text(1, "k"), ...text(2, "v2"), ...text(2, "v3")]),
      delimited(19, [8, 3]),
      delimited(19, [32, 9]),
    );
    const decoded = envelopeCodec.decodeTask(bytes);
    assert.deepStrictEqual(decoded, {
      ...emptyTask(),
      id: "second",
      attempt: 2,
      headers: { k: "v3", "": "", "only key": "" },
      retry: { ...emptyRetry(), maxAttempts: 3, maxBackoffMs: 9 },
    });
    // ts-proto agrees on everything but the merge (it keeps the last RetryPolicy only).
    assert.deepStrictEqual({ ...decoded, retry: undefined }, { ...Task.decode(bytes), retry: undefined });

    const report = bytesOf(
      delimited(5, [...delimited(4, text(1, "a")), 8, 1]),
      delimited(5, [...delimited(4, text(1, "b")), 18, 1, 0x6d]),
    );
    assert.deepStrictEqual(envelopeCodec.decodeReport(report).error, {
      code: 1,
      message: "m",
      retryable: false,
      details: [
        { type: "a", value: new Uint8Array(0) },
        { type: "b", value: new Uint8Array(0) },
      ],
    });
  });

  it("reads int64 exactly up to ±(2^53 - 1) and refuses what lies beyond, like ts-proto", () => {
    const exact = [0, 1, -1, 2 ** 31, -(2 ** 31), 2 ** 32, -(2 ** 32) - 1, 2 ** 52 + 1, 2 ** 53 - 1, -(2 ** 53) + 1];
    for (const value of exact) {
      const bytes = bytesOf([40], varint(value), [128, 1], varint(value));
      const report = bytesOf([64], varint(value), [128, 1], varint(value));
      assert.equal(envelopeCodec.decodeTask(bytes).createdAtMs, value);
      assert.equal(envelopeCodec.decodeTask(bytes).notBeforeMs, value);
      assert.deepStrictEqual(envelopeCodec.decodeTask(bytes), Task.decode(bytes));
      assert.equal(envelopeCodec.decodeReport(report).atMs, value);
      assert.equal(envelopeCodec.decodeReport(report).nextAttemptAtMs, value);
    }
    for (const value of [2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n), -(2n ** 53n) - 5n]) {
      const bytes = bytesOf([128, 1], varint(value));
      assert.throws(() => Task.decode(bytes), /SAFE_INTEGER/);
      assert.throws(() => envelopeCodec.decodeTask(bytes), /SAFE_INTEGER/, `${value}`);
    }
  });

  it("reads over-long varints of uint32, enum and bool fields like ts-proto", () => {
    const bytes = bytesOf([32], varint(2n ** 32n + 7n), [56], varint(-3), [64], varint(-1));
    assert.deepStrictEqual(envelopeCodec.decodeTask(bytes), Task.decode(bytes));
    assert.equal(envelopeCodec.decodeTask(bytes).attempt, 7);
    assert.equal(envelopeCodec.decodeTask(bytes).reportLevel, -3);
    for (const value of [0n, 1n, 2n, 2n ** 32n, 2n ** 63n, 2n ** 35n]) {
      const failure = bytesOf(delimited(5, [24, ...varint(value)]));
      assert.deepStrictEqual(envelopeCodec.decodeReport(failure), Report.decode(failure), `bool ${value}`);
    }
    // A tenth byte with bits beyond bit 63: only bit 63 counts.
    const wide = bytesOf(delimited(5, [24, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02]));
    assert.deepStrictEqual(envelopeCodec.decodeReport(wide), Report.decode(wide));
  });

  it("decodes invalid UTF-8 leniently, as ts-proto does", () => {
    for (const content of invalidUtf8) {
      for (const padding of [0, 40]) {
        const bytes = bytesOf(delimited(1, [...new Array<number>(padding).fill(0x61), ...content]));
        assert.deepStrictEqual(envelopeCodec.decodeTask(bytes), Task.decode(bytes), `${content}`);
      }
    }
  });

  it("returns payloads as views into the input, like ts-proto", () => {
    const bytes = envelopeCodec.encodeTask({ ...emptyTask(), payload: Uint8Array.of(1, 2, 3) });
    const task = envelopeCodec.decodeTask(bytes);
    assert.equal(task.payload.buffer, bytes.buffer);
    assert.deepStrictEqual(task.payload, Uint8Array.of(1, 2, 3));
  });

  it("decodes inputs that are views into a larger buffer", () => {
    const generate = new Generator(15);
    const task = generate.task();
    const encoded = Task.encode(task).finish();
    const padded = new Uint8Array(encoded.length + 20).fill(0xff);
    padded.set(encoded, 10);
    assert.deepStrictEqual(envelopeCodec.decodeTask(padded.subarray(10, 10 + encoded.length)), Task.decode(encoded));
  });
});

/** Splits canonical top-level encoding into its fields (tags below 2^14, lengths below 2^28). */
function splitFields(bytes: Uint8Array): number[][] {
  const fields: number[][] = [];
  let at = 0;
  const readVarint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++] as number;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
  };
  while (at < bytes.length) {
    const start = at;
    const fieldTag = readVarint();
    switch (fieldTag & 7) {
      case 0:
        readVarint();
        break;
      case 1:
        at += 8;
        break;
      case 2: {
        const length = readVarint();
        at += length;
        break;
      }
      default:
        throw new Error(`unexpected wire type in ${fieldTag}`);
    }
    fields.push([...bytes.subarray(start, at)]);
  }
  return fields;
}

describe("envelope codec: malformed input", () => {
  const invalid: readonly [string, Uint8Array][] = [
    ["wire type 6", bytesOf(tag(1, 6))],
    ["wire type 7", bytesOf(tag(1, 7), [0])],
    ["field number 0", bytesOf([0, 1])],
    ["field number 0 with wire type 2", bytesOf([2, 0])],
    ["an end-group tag without a group", bytesOf(tag(1, 4))],
    ["a mismatched end-group tag", bytesOf(tag(3, 3), tag(4, 4))],
    ["an unterminated group", bytesOf(tag(3, 3), [8, 1])],
    ["groups nested too deeply", bytesOf(...Array.from({ length: 101 }, () => tag(3, 3)))],
    ["a varint longer than 10 bytes", bytesOf([32], new Array<number>(10).fill(0x80), [1])],
    ["an int64 longer than 10 bytes", bytesOf([40], new Array<number>(10).fill(0x80), [1])],
    ["an unknown varint longer than 10 bytes", bytesOf(tag(99, 0), new Array<number>(10).fill(0x80), [1])],
    ["a tag longer than 10 bytes", bytesOf(new Array<number>(10).fill(0x88), [1])],
    ["a string past the end", bytesOf([10, 5], [0x61, 0x62])],
    ["bytes past the end", bytesOf([26, 0x80, 0x80, 0x80, 0x80, 0x0f])],
    ["a length of 2^32 - 1", bytesOf([26], varint(2 ** 32 - 1), [1, 2, 3])],
    ["a message past the end", bytesOf([154, 1, 10, 8, 3])],
    ["a double past the end", bytesOf([154, 1, 9, 25, 0, 0, 0, 0, 0, 0, 0, 64].slice(0, -1))],
    ["a field overrunning its message", bytesOf([154, 1, 3, 25, 0, 0], [0, 0, 0, 0, 0, 0])],
    ["a string overrunning its map entry", bytesOf([170, 1, 3, 10, 5, 0x61], [0x62, 0x63, 0x64, 0x65])],
    ["an unknown fixed64 past the end", bytesOf(tag(99, 1), [1, 2, 3])],
    ["an unknown fixed32 past the end", bytesOf(tag(99, 5), [1, 2, 3])],
    ["an unknown field past the end", bytesOf(tag(99, 2), [4, 1])],
    ["a truncated tag", bytesOf([0x80])],
  ];
  for (const [what, bytes] of invalid) {
    it(`throws on ${what}`, () => {
      assert.throws(() => envelopeCodec.decodeTask(bytes), Error);
      assert.throws(() => envelopeCodec.decodeReport(bytes), Error);
    });
  }

  it("throws on a Failure detail overrunning its Failure, and on a truncated float", () => {
    assert.throws(() => envelopeCodec.decodeReport(bytesOf([42, 3, 34, 4, 10, 2, 0x61, 0x62])), /truncated/);
    assert.throws(() => envelopeCodec.decodeProgress(bytesOf([13, 0, 0, 0x80])), /truncated/);
  });

  it("throws or decodes exactly the complete fields for every prefix of a valid message", () => {
    const generate = new Generator(21);
    let prefixes = 0;
    let decoded = 0;
    for (let i = 0; i < 40; i++) {
      const task = { ...generate.task(), payload: generate.chance(0.5) ? Uint8Array.of(1, 2, 3) : new Uint8Array(0) };
      const report = { ...generate.report(), payload: new Uint8Array(200) };
      checkPrefixes(envelopeCodec.encodeTask(task), envelopeCodec.decodeTask, envelopeCodec.encodeTask, Task.decode);
      checkPrefixes(
        envelopeCodec.encodeReport(report),
        envelopeCodec.decodeReport,
        envelopeCodec.encodeReport,
        Report.decode,
      );
    }

    function checkPrefixes<T>(
      bytes: Uint8Array,
      decode: (bytes: Uint8Array) => T,
      encode: (message: T) => Uint8Array,
      tsProtoDecode: (bytes: Uint8Array) => T,
    ): void {
      // Every prefix of short messages; of long ones, those near either end and a sample between.
      const step = Math.ceil(bytes.length / 100);
      for (let length = 0; length < bytes.length; length++) {
        if (bytes.length > 2000 && length > 100 && length < bytes.length - 100 && length % step !== 0) continue;
        prefixes++;
        // A plain Uint8Array copy: Buffer#slice would be a Buffer view, and ts-proto's
        // decode would then return Buffers where ours returns Uint8Arrays.
        const prefix = new Uint8Array(bytes.subarray(0, length));
        let message: T;
        try {
          message = decode(prefix);
        } catch (error) {
          assert.ok(error instanceof Error);
          assert.throws(() => tsProtoDecode(prefix), `ts-proto decodes a prefix of ${length} that we refuse`);
          continue;
        }
        decoded++;
        // A prefix that decodes ends on a field boundary: it is the canonical encoding of what it decodes to.
        assertSameBytes(encode(message), prefix, `prefix of ${length}`);
        assert.deepStrictEqual(message, tsProtoDecode(prefix));
      }
    }
    assert.ok(decoded > 0 && decoded < prefixes, `${decoded} of ${prefixes} prefixes decoded`);
  });
});

describe("envelope codec: caches of recurring strings", () => {
  /**
   * Strings of 24 bytes that agree in the first, middle and last byte, which pick the
   * decoder's cache slot, so they all compete for one slot: ASCII, other UTF-8, and
   * invalid UTF-8 that decodes to as many code units as it has bytes.
   */
  function collidingContents(): number[][] {
    const variants = [[0x62], [0x63], [0x64], [...new TextEncoder().encode("é€")], [0xff, 0xfe], [0xc3]];
    return variants.map((variant) => {
      const content = new Array<number>(24).fill(0x62);
      content.splice(1, variant.length, ...variant);
      content[0] = 0x61;
      content[12] = 0x6d;
      content[23] = 0x7a;
      return content;
    });
  }

  it("decodes recurring fields exactly when their values compete for one cache slot", () => {
    const contents = collidingContents();
    // Every recurring field of Task (name, reply_to, queue, header key) and of Report
    // (name, worker_id, failure detail type), each value several times in a row and interleaved.
    for (let round = 0; round < 3; round++) {
      for (const content of [...contents, ...contents.toReversed()]) {
        for (const repeat of [1, 2]) {
          const task = bytesOf(
            delimited(2, content),
            delimited(6, content),
            delimited(9, content),
            delimited(21, [...delimited(1, content), ...delimited(2, content)]),
          );
          assert.deepStrictEqual(envelopeCodec.decodeTask(task), Task.decode(task), `task ${content} #${repeat}`);
          const report = bytesOf(
            delimited(2, content),
            delimited(5, delimited(4, delimited(1, content))),
            delimited(7, content),
          );
          assert.deepStrictEqual(
            envelopeCodec.decodeReport(report),
            Report.decode(report),
            `report ${content} #${repeat}`,
          );
        }
      }
    }
  });

  it("decodes recurring values of every length around the longest cached one", () => {
    for (const length of [1, 2, 63, 64, 65, 200]) {
      for (const fill of [0x61, 0x62, 0x61]) {
        const bytes = bytesOf(delimited(2, new Array<number>(length).fill(fill)));
        assert.equal(envelopeCodec.decodeTask(bytes).name, String.fromCharCode(fill).repeat(length));
      }
    }
  });

  it("encodes recurring fields exactly, also after the cache has been emptied and for lone surrogates", () => {
    const names = Array.from({ length: 700 }, (_, i) => `example.v1.Service${i}/Method`);
    names.push("\ud800", "x\udfffy", "é€😀", "a".repeat(64), "a".repeat(65));
    for (let round = 0; round < 2; round++) {
      for (const name of names) {
        const task = { ...emptyTask(), name, queue: name, replyTo: name, headers: { [name]: name } };
        assertSameBytes(envelopeCodec.encodeTask(task), Task.encode(task).finish(), `task ${name}`);
        const report = {
          ...Report.fromPartial({}),
          name,
          workerId: name,
          error: { code: 0, message: "", retryable: false, details: [{ type: name, value: new Uint8Array(0) }] },
        };
        assertSameBytes(envelopeCodec.encodeReport(report), Report.encode(report).finish(), `report ${name}`);
      }
    }
  });
});

describe("envelope codec: without Node's Buffer.prototype.utf8Slice", () => {
  it("decodes strings with the portable fallback exactly like ts-proto", async () => {
    // A second instance of the module, loaded while utf8Slice refuses plain Uint8Arrays (Node
    // itself only calls it on Buffers), picks the fallback; using it while the refusal is still
    // in place proves it does not call utf8Slice.
    const saved = Object.getOwnPropertyDescriptor(Buffer.prototype, "utf8Slice");
    assert.ok(saved !== undefined && typeof saved.value === "function");
    const original = saved.value as (this: Uint8Array, start: number, end: number) => string;
    Object.defineProperty(Buffer.prototype, "utf8Slice", {
      ...saved,
      value(this: Uint8Array, start: number, end: number): string {
        if (!Buffer.isBuffer(this)) throw new TypeError("utf8Slice called on a plain Uint8Array");
        return original.call(this, start, end);
      },
    });
    try {
      const specifier = new URL("../src/envelope-codec.js?without-utf8slice", import.meta.url).href;
      const portable = ((await import(specifier)) as typeof import("../src/envelope-codec.js")).envelopeCodec;
      assert.notEqual(portable, envelopeCodec);
      const generate = new Generator(41, true);
      for (let i = 0; i < 300; i++) {
        const task = Task.encode(generate.task()).finish();
        assert.deepStrictEqual(portable.decodeTask(task), Task.decode(task), `task ${i}`);
        const report = Report.encode(generate.report()).finish();
        assert.deepStrictEqual(portable.decodeReport(report), Report.decode(report), `report ${i}`);
      }
      for (const content of invalidUtf8) {
        for (const padding of [0, 40]) {
          const bytes = bytesOf(delimited(1, [...new Array<number>(padding).fill(0x61), ...content]));
          assert.deepStrictEqual(portable.decodeTask(bytes), Task.decode(bytes), `${content}`);
        }
      }
    } finally {
      Object.defineProperty(Buffer.prototype, "utf8Slice", saved);
    }
  });
});

describe("envelope codec: the envelope module", () => {
  it("encodes and decodes through the codec", () => {
    const generate = new Generator(31);
    const task = generate.task();
    assertSameBytes(envelope.encodeTask(task), Task.encode(task).finish(), "encodeTask");
    const report = generate.report();
    assertSameBytes(envelope.encodeReport(report), Report.encode(report).finish(), "encodeReport");
    assert.deepStrictEqual(envelope.decodeReport(envelope.encodeReport(report)), report);
    assert.deepStrictEqual(envelope.decodeProgress(envelope.encodeProgress({ percent: 50, message: "half" })), {
      percent: 50,
      message: "half",
      detail: new Uint8Array(0),
    });
    assert.deepStrictEqual(envelope.decodeProgress(envelope.encodeProgress({})), {
      message: "",
      detail: new Uint8Array(0),
    });
  });
});
