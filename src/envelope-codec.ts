/**
 * A hand-written protobuf codec for the `dingo.v1` envelopes (Task, Report, Progress and
 * the messages nested in them).
 *
 * The envelopes are encoded and decoded once per task, report and progress update, so
 * this file trades the generality of ts-proto's generated code for speed: one reused
 * output buffer, no reader or writer objects, no fork stack, int64 decoded with integer
 * arithmetic instead of bigint → string → number. The objects are exactly the ts-proto
 * interfaces of `generated/dingo/v1/envelope_pb.ts`, and the bytes are exactly what
 * ts-proto's `encode` writes for them (test/envelope-codec.test.ts holds both to that).
 *
 * Decoding follows ts-proto (a known field with an unexpected wire type is skipped as
 * unknown, a map entry without key or value uses "", int64 outside the safe integer range
 * throws, truncated input and over-long varints throw) except where ts-proto is lenient
 * with corrupt input: a field that overruns its enclosing message, field number 0 and a
 * stray end-group tag throw here (ts-proto reads on past the nested message's end, or
 * stops and returns what it has). A message field that occurs twice is merged, as the
 * protobuf spec says; ts-proto keeps the last occurrence (it never writes two).
 */
import type { Failure, FailureDetail, Progress, Report, RetryPolicy, Task } from "../generated/dingo/v1/envelope_pb.js";

/**
 * Encoders and decoders of the `dingo.v1` envelopes, byte-compatible with ts-proto.
 *
 * Every `encode*` returns a fresh array that the caller owns. Every `decode*` throws an
 * `Error` on input that is not a well-formed message; `bytes` fields of the result are
 * views into the input (as with ts-proto), so the input must not be modified afterwards.
 *
 * @example
 * ```ts
 * const bytes = envelopeCodec.encodeTask(task);
 * const copy = envelopeCodec.decodeTask(bytes);
 * ```
 */
export const envelopeCodec = {
  encodeTask,
  decodeTask,
  encodeReport,
  decodeReport,
  encodeProgress,
  decodeProgress,
} as const;

// ---------------------------------------------------------------------------------------
// Encoding
//
// One output buffer for every encode: encoding is synchronous and never re-entered, so
// the buffer is never shared by two encodes, and each result is copied out exactly once.
// Every write is preceded by `reserve` with an upper bound of the bytes it may write,
// so the writers themselves do no bounds checks.

/** Buffer size to start with and to fall back to; larger than a typical envelope. */
const initialCapacity = 1024;
/** An encode that grew the buffer beyond this drops it afterwards, so one huge payload does not pin memory forever. */
const maxRetainedCapacity = 1 << 20;

let out = new Uint8Array(initialCapacity);
let pos = 0;

const textEncoder = new TextEncoder();
// Doubles and floats go through an 8-byte scratch view; a DataView over `out` would have
// to be rebuilt whenever `out` grows, and decoding would need one per input.
const scratch = new Uint8Array(8);
const scratchView = new DataView(scratch.buffer);

/** Two to the 32nd: the weight of the high word of a 64-bit integer. */
const twoTo32 = 4294967296;
/** Two to the 63rd: int64 holds -2^63 ..< 2^63. */
const twoTo63 = 2 ** 63;

function encodeTask(task: Task): Uint8Array {
  pos = 0;
  writeTask(task);
  return finish();
}

function encodeReport(report: Report): Uint8Array {
  pos = 0;
  writeReport(report);
  return finish();
}

function encodeProgress(progress: Progress): Uint8Array {
  pos = 0;
  writeProgress(progress);
  return finish();
}

/**
 * The one copy out of the shared buffer: the caller keeps the result, the buffer is
 * reused. On Node the copy goes into a pooled Buffer: allocating a small typed array of
 * its own costs several times more than the copy (measured: 0.85 µs against 0.17 µs for
 * 160 bytes), and every task makes three or more of them. Pooled results share an 8 KiB
 * slab, so whoever keeps one for long (a result store) copies it (see `ownedCopy`).
 */
function finish(): Uint8Array {
  const bytes = copyOut === undefined ? out.slice(0, pos) : copyOut(out, pos);
  if (out.length > maxRetainedCapacity) out = new Uint8Array(initialCapacity);
  return bytes;
}

interface NodeBuffers {
  allocUnsafe(size: number): Uint8Array;
  prototype: {
    copy(this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number): number;
  };
}

const nodeBuffers = (globalThis as { Buffer?: NodeBuffers }).Buffer;
const copyOut: ((source: Uint8Array, length: number) => Uint8Array) | undefined =
  nodeBuffers === undefined
    ? undefined
    : (source, length) => {
        const target = nodeBuffers.allocUnsafe(length);
        nodeBuffers.prototype.copy.call(source, target, 0, 0, length);
        return target;
      };

function reserve(size: number): void {
  if (pos + size > out.length) grow(size);
}

function grow(size: number): void {
  let capacity = out.length * 2;
  while (capacity < pos + size) capacity *= 2;
  const grown = new Uint8Array(capacity);
  grown.set(out.subarray(0, pos));
  out = grown;
}

// Upper bounds used with `reserve`: a tag takes at most 2 bytes here (field numbers < 2048),
// a length prefix at most 5, and a UTF-16 code unit at most 3 UTF-8 bytes.
function stringBound(value: string): number {
  return value.length * 3 + 7;
}

function writeTask(task: Task): void {
  // Besides strings and payload: eight varint fields and the RetryPolicy (at most 36 bytes),
  // with tags and lengths, take at most 111 bytes. Headers reserve their own room.
  reserve(
    stringBound(task.id) +
      stringBound(task.name) +
      task.payload.length +
      7 +
      stringBound(task.replyTo) +
      stringBound(task.queue) +
      111,
  );
  if (task.id !== "") {
    out[pos++] = 10;
    writeString(task.id);
  }
  if (task.name !== "") {
    out[pos++] = 18;
    writeString(task.name);
  }
  if (task.payload.length !== 0) {
    out[pos++] = 26;
    writeBytes(task.payload);
  }
  if (task.attempt !== 0) {
    out[pos++] = 32;
    writeUint32(task.attempt);
  }
  if (task.createdAtMs !== 0) {
    out[pos++] = 40;
    writeInt64(task.createdAtMs);
  }
  if (task.replyTo !== "") {
    out[pos++] = 50;
    writeString(task.replyTo);
  }
  if (task.reportLevel !== 0) {
    out[pos++] = 56;
    writeInt32(task.reportLevel);
  }
  if (task.priority !== 0) {
    out[pos++] = 64;
    writeUint32(task.priority);
  }
  if (task.queue !== "") {
    out[pos++] = 74;
    writeString(task.queue);
  }
  if (task.notBeforeMs !== 0) {
    out[pos++] = 128;
    out[pos++] = 1;
    writeInt64(task.notBeforeMs);
  }
  if (task.deadlineMs !== 0) {
    out[pos++] = 136;
    out[pos++] = 1;
    writeInt64(task.deadlineMs);
  }
  if (task.timeoutMs !== 0) {
    out[pos++] = 144;
    out[pos++] = 1;
    writeUint32(task.timeoutMs);
  }
  if (task.retry !== undefined) {
    out[pos++] = 154;
    out[pos++] = 1;
    // A RetryPolicy is at most 36 bytes, so its length always fits in one byte.
    const start = pos++;
    writeRetryPolicy(task.retry);
    out[start] = pos - start - 1;
  }
  if (task.resultTtlMs !== 0) {
    out[pos++] = 160;
    out[pos++] = 1;
    writeUint32(task.resultTtlMs);
  }
  // Object.keys, like ts-proto's Object.entries: own enumerable keys in property order.
  const headers = task.headers;
  for (const key of Object.keys(headers)) {
    const value = headers[key] as string;
    // Tag, entry length, two inner tags with lengths, and room to widen the entry length.
    reserve(stringBound(key) + stringBound(value) + 12);
    out[pos++] = 170;
    out[pos++] = 1;
    const start = pos++;
    if (key !== "") {
      out[pos++] = 10;
      writeString(key);
    }
    if (value !== "") {
      out[pos++] = 18;
      writeString(value);
    }
    closeLength(start);
  }
}

function writeRetryPolicy(retry: RetryPolicy): void {
  if (retry.maxAttempts !== 0) {
    out[pos++] = 8;
    writeUint32(retry.maxAttempts);
  }
  if (retry.initialBackoffMs !== 0) {
    out[pos++] = 16;
    writeUint32(retry.initialBackoffMs);
  }
  if (retry.multiplier !== 0) {
    out[pos++] = 25;
    writeDouble(retry.multiplier);
  }
  if (retry.maxBackoffMs !== 0) {
    out[pos++] = 32;
    writeUint32(retry.maxBackoffMs);
  }
  if (retry.jitter !== 0) {
    out[pos++] = 41;
    writeDouble(retry.jitter);
  }
}

function writeReport(report: Report): void {
  // Besides strings: the payload's tag and length and four varint fields with their tags
  // take at most 47 bytes. The Failure reserves its own room.
  reserve(
    stringBound(report.taskId) + stringBound(report.name) + report.payload.length + stringBound(report.workerId) + 47,
  );
  if (report.taskId !== "") {
    out[pos++] = 10;
    writeString(report.taskId);
  }
  if (report.name !== "") {
    out[pos++] = 18;
    writeString(report.name);
  }
  if (report.status !== 0) {
    out[pos++] = 24;
    writeInt32(report.status);
  }
  if (report.payload.length !== 0) {
    out[pos++] = 34;
    writeBytes(report.payload);
  }
  if (report.error !== undefined) {
    writeFailure(report.error);
  }
  if (report.attempt !== 0) {
    out[pos++] = 48;
    writeUint32(report.attempt);
  }
  if (report.workerId !== "") {
    out[pos++] = 58;
    writeString(report.workerId);
  }
  if (report.atMs !== 0) {
    out[pos++] = 64;
    writeInt64(report.atMs);
  }
  if (report.nextAttemptAtMs !== 0) {
    out[pos++] = 128;
    out[pos++] = 1;
    writeInt64(report.nextAttemptAtMs);
  }
}

/** Writes Report field 5 (tag included), since it reserves its own room. */
function writeFailure(failure: Failure): void {
  let bound = stringBound(failure.message) + 24;
  const details = failure.details;
  for (let i = 0; i < details.length; i++) {
    const detail = details[i] as FailureDetail;
    bound += stringBound(detail.type) + detail.value.length + 16;
  }
  reserve(bound);
  out[pos++] = 42;
  const start = pos++;
  if (failure.code !== 0) {
    out[pos++] = 8;
    writeInt32(failure.code);
  }
  if (failure.message !== "") {
    out[pos++] = 18;
    writeString(failure.message);
  }
  if (failure.retryable !== false) {
    out[pos++] = 24;
    out[pos++] = failure.retryable ? 1 : 0;
  }
  for (let i = 0; i < details.length; i++) {
    const detail = details[i] as FailureDetail;
    out[pos++] = 34;
    const detailStart = pos++;
    if (detail.type !== "") {
      out[pos++] = 10;
      writeString(detail.type);
    }
    if (detail.value.length !== 0) {
      out[pos++] = 18;
      writeBytes(detail.value);
    }
    closeLength(detailStart);
  }
  closeLength(start);
}

function writeProgress(progress: Progress): void {
  reserve(stringBound(progress.message) + progress.detail.length + 16);
  if (progress.percent !== 0) {
    out[pos++] = 13;
    writeFloat(progress.percent);
  }
  if (progress.message !== "") {
    out[pos++] = 18;
    writeString(progress.message);
  }
  if (progress.detail.length !== 0) {
    out[pos++] = 26;
    writeBytes(progress.detail);
  }
}

/**
 * Fills in the length of the nested message that started with a one-byte placeholder at
 * `start`, widening the placeholder if the message turned out to be 128 bytes or longer
 * (the caller reserved room for that). Betting on one byte saves measuring the message first.
 */
function closeLength(start: number): void {
  const length = pos - start - 1;
  if (length < 0x80) {
    out[start] = length;
    return;
  }
  const size = varintSize(length);
  out.copyWithin(start + size, start + 1, pos);
  pos = start;
  writeVarint(length);
  pos += length;
}

function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

/** Writes a uint32 already known to be valid. */
function writeVarint(value: number): void {
  while (value > 0x7f) {
    out[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[pos++] = value;
}

function writeUint32(value: number): void {
  // `>>> 0` maps exactly the integers 0..2^32-1 to themselves; ts-proto throws on the rest too.
  if (value >>> 0 !== value) throw new Error(`invalid uint32: ${value}`);
  if (value < 0x80) out[pos++] = value;
  else writeVarint(value);
}

function writeInt32(value: number): void {
  if ((value | 0) !== value) throw new Error(`invalid int32: ${value}`);
  if (value >= 0) {
    if (value < 0x80) out[pos++] = value;
    else writeVarint(value);
    return;
  }
  // Negative int32 is sign-extended to 64 bits: always 10 bytes.
  for (let i = 0; i < 9; i++) {
    out[pos++] = (value & 0x7f) | 0x80;
    value >>= 7;
  }
  out[pos++] = 1;
}

/**
 * Writes an int64 given as a number. Like ts-proto (which goes through BigInt), any integer
 * in the int64 range is accepted, even one above 2^53 that the decoder will then refuse.
 */
function writeInt64(value: number): void {
  if (value >= 0 && value <= 0xffffffff && value >>> 0 === value) {
    if (value < 0x80) out[pos++] = value;
    else writeVarint(value);
    return;
  }
  if (!Number.isInteger(value) || value < -twoTo63 || value >= twoTo63) {
    throw new Error(`invalid int64: ${value}`);
  }
  // Both steps are exact for integral doubles: dividing by 2^32 only changes the exponent,
  // and the remainder is below 2^32. Negative values come out in two's complement.
  const high = Math.floor(value / twoTo32);
  writeVarint64(value - high * twoTo32, high | 0);
}

/** Writes a 64-bit varint from its low word (unsigned) and high word (signed or unsigned). */
function writeVarint64(low: number, high: number): void {
  // The low 28 bits, 7 at a time, while more bits follow.
  for (let shift = 0; shift < 28; shift += 7) {
    const bits = low >>> shift;
    if (bits >>> 7 === 0 && high === 0) {
      out[pos++] = bits;
      return;
    }
    out[pos++] = (bits & 0x7f) | 0x80;
  }
  // Bits 28..34 straddle the two words.
  const split = ((low >>> 28) & 0x0f) | ((high & 0x07) << 4);
  if (high >>> 3 === 0) {
    out[pos++] = split;
    return;
  }
  out[pos++] = split | 0x80;
  let rest = high >>> 3;
  while (rest > 0x7f) {
    out[pos++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  out[pos++] = rest;
}

function writeDouble(value: number): void {
  scratchView.setFloat64(0, value, true);
  for (let i = 0; i < 8; i++) out[pos + i] = scratch[i] as number;
  pos += 8;
}

function writeFloat(value: number): void {
  // ts-proto (via @bufbuild/protobuf) rejects finite values that overflow a float32.
  if (Number.isFinite(value) && !Number.isFinite(Math.fround(value))) throw new Error(`invalid float32: ${value}`);
  scratchView.setFloat32(0, value, true);
  out[pos++] = scratch[0] as number;
  out[pos++] = scratch[1] as number;
  out[pos++] = scratch[2] as number;
  out[pos++] = scratch[3] as number;
}

function writeBytes(value: Uint8Array): void {
  const length = value.length;
  if (length < 0x80) out[pos++] = length;
  else writeVarint(length);
  out.set(value, pos);
  pos += length;
}

/** Longest string written by the inline ASCII loop: its length prefix fits one byte. */
const asciiMaxLength = 0x7f;

function writeString(value: string): void {
  const length = value.length;
  if (length <= asciiMaxLength) {
    // Most envelope strings (ids, names, queues, header keys) are short ASCII: copy the
    // code units directly and fall back to the encoder at the first non-ASCII one.
    const bytes = out;
    let cursor = pos + 1;
    let i = 0;
    for (; i < length; i++) {
      const code = value.charCodeAt(i);
      if (code > 0x7f) break;
      bytes[cursor++] = code;
    }
    if (i === length) {
      bytes[pos] = length;
      pos = cursor;
      return;
    }
  }
  // The byte length is known only after encoding: guess the prefix size from the UTF-16
  // length (right for ASCII), encode behind it, and shift if the guess was short.
  // encodeInto replaces lone surrogates with U+FFFD, like TextEncoder.encode in ts-proto.
  const guess = varintSize(length);
  const start = pos;
  const { written } = textEncoder.encodeInto(value, out.subarray(start + guess));
  const size = varintSize(written);
  if (size !== guess) out.copyWithin(start + size, start + guess, start + guess + written);
  writeVarint(written);
  pos += written;
}

// ---------------------------------------------------------------------------------------
// Decoding
//
// The input and the read position are module state rather than a reader object: decoding
// is synchronous and never re-entered, and this saves an allocation per decode. Every
// read is checked against `end`, the end of the innermost message being read, so a field
// can neither run past the input nor out of the message that contains it.

/** Shared empty value of absent `bytes` fields: zero-length, so nobody can write into it. */
const emptyBytes = new Uint8Array(0);
// ignoreBOM: a leading U+FEFF in a protobuf string is text, not a byte-order mark.
const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

let input: Uint8Array = emptyBytes;
let at = 0;

/** Deepest nesting of groups in unknown fields that is skipped before giving up. */
const maxGroupDepth = 100;

function decodeTask(bytes: Uint8Array): Task {
  input = bytes;
  at = 0;
  try {
    return readTask(bytes.length);
  } finally {
    // Do not keep the caller's buffer alive until the next decode.
    input = emptyBytes;
  }
}

function decodeReport(bytes: Uint8Array): Report {
  input = bytes;
  at = 0;
  try {
    return readReport(bytes.length);
  } finally {
    input = emptyBytes;
  }
}

function decodeProgress(bytes: Uint8Array): Progress {
  input = bytes;
  at = 0;
  try {
    return readProgress(bytes.length);
  } finally {
    input = emptyBytes;
  }
}

function readTask(end: number): Task {
  // Same property order as ts-proto's createBaseTask, so both produce one object shape.
  const task: Task = {
    id: "",
    name: "",
    payload: emptyBytes,
    attempt: 0,
    createdAtMs: 0,
    replyTo: "",
    reportLevel: 0,
    priority: 0,
    queue: "",
    notBeforeMs: 0,
    deadlineMs: 0,
    timeoutMs: 0,
    retry: undefined,
    resultTtlMs: 0,
    headers: {},
  };
  while (at < end) {
    const tag = readTag(end);
    switch (tag) {
      case 10:
        task.id = readString(end);
        break;
      case 18:
        task.name = readString(end);
        break;
      case 26:
        task.payload = readBytes(end);
        break;
      case 32:
        task.attempt = readUint32(end);
        break;
      case 40:
        task.createdAtMs = readInt64(end);
        break;
      case 50:
        task.replyTo = readString(end);
        break;
      case 56:
        task.reportLevel = readUint32(end) | 0;
        break;
      case 64:
        task.priority = readUint32(end);
        break;
      case 74:
        task.queue = readString(end);
        break;
      case 128:
        task.notBeforeMs = readInt64(end);
        break;
      case 136:
        task.deadlineMs = readInt64(end);
        break;
      case 144:
        task.timeoutMs = readUint32(end);
        break;
      case 154:
        task.retry = readRetryPolicy(readDelimitedEnd(end), task.retry);
        break;
      case 160:
        task.resultTtlMs = readUint32(end);
        break;
      case 170:
        readHeader(readDelimitedEnd(end), task.headers);
        break;
      default:
        skipField(tag, end, maxGroupDepth);
    }
  }
  return task;
}

/** Reads one map entry; a missing key or value is "" as in ts-proto, and a repeated key overwrites. */
function readHeader(end: number, headers: Task["headers"]): void {
  let key = "";
  let value = "";
  while (at < end) {
    const tag = readTag(end);
    if (tag === 10) key = readString(end);
    else if (tag === 18) value = readString(end);
    else skipField(tag, end, maxGroupDepth);
  }
  // Plain assignment, as in ts-proto, so both drop a "__proto__" key the same way.
  headers[key] = value;
}

function readRetryPolicy(end: number, into: RetryPolicy | undefined): RetryPolicy {
  const retry: RetryPolicy = into ?? {
    maxAttempts: 0,
    initialBackoffMs: 0,
    multiplier: 0,
    maxBackoffMs: 0,
    jitter: 0,
  };
  while (at < end) {
    const tag = readTag(end);
    switch (tag) {
      case 8:
        retry.maxAttempts = readUint32(end);
        break;
      case 16:
        retry.initialBackoffMs = readUint32(end);
        break;
      case 25:
        retry.multiplier = readDouble(end);
        break;
      case 32:
        retry.maxBackoffMs = readUint32(end);
        break;
      case 41:
        retry.jitter = readDouble(end);
        break;
      default:
        skipField(tag, end, maxGroupDepth);
    }
  }
  return retry;
}

function readReport(end: number): Report {
  const report: Report = {
    taskId: "",
    name: "",
    status: 0,
    payload: emptyBytes,
    error: undefined,
    attempt: 0,
    workerId: "",
    atMs: 0,
    nextAttemptAtMs: 0,
  };
  while (at < end) {
    const tag = readTag(end);
    switch (tag) {
      case 10:
        report.taskId = readString(end);
        break;
      case 18:
        report.name = readString(end);
        break;
      case 24:
        report.status = readUint32(end) | 0;
        break;
      case 34:
        report.payload = readBytes(end);
        break;
      case 42:
        report.error = readFailure(readDelimitedEnd(end), report.error);
        break;
      case 48:
        report.attempt = readUint32(end);
        break;
      case 58:
        report.workerId = readString(end);
        break;
      case 64:
        report.atMs = readInt64(end);
        break;
      case 128:
        report.nextAttemptAtMs = readInt64(end);
        break;
      default:
        skipField(tag, end, maxGroupDepth);
    }
  }
  return report;
}

function readFailure(end: number, into: Failure | undefined): Failure {
  const failure: Failure = into ?? { code: 0, message: "", retryable: false, details: [] };
  while (at < end) {
    const tag = readTag(end);
    switch (tag) {
      case 8:
        failure.code = readUint32(end) | 0;
        break;
      case 18:
        failure.message = readString(end);
        break;
      case 24:
        failure.retryable = readBool(end);
        break;
      case 34:
        failure.details.push(readFailureDetail(readDelimitedEnd(end)));
        break;
      default:
        skipField(tag, end, maxGroupDepth);
    }
  }
  return failure;
}

function readFailureDetail(end: number): FailureDetail {
  const detail: FailureDetail = { type: "", value: emptyBytes };
  while (at < end) {
    const tag = readTag(end);
    if (tag === 10) detail.type = readString(end);
    else if (tag === 18) detail.value = readBytes(end);
    else skipField(tag, end, maxGroupDepth);
  }
  return detail;
}

function readProgress(end: number): Progress {
  const progress: Progress = { percent: 0, message: "", detail: emptyBytes };
  while (at < end) {
    const tag = readTag(end);
    switch (tag) {
      case 13:
        progress.percent = readFloat(end);
        break;
      case 18:
        progress.message = readString(end);
        break;
      case 26:
        progress.detail = readBytes(end);
        break;
      default:
        skipField(tag, end, maxGroupDepth);
    }
  }
  return progress;
}

function truncated(): Error {
  return new Error("invalid protobuf message: truncated input (a field runs past the end of its message)");
}

/** Reads a tag and rejects the ones no encoder writes: field number 0, wire types 6 and 7. */
function readTag(end: number): number {
  const tag = readUint32(end);
  if (tag >>> 3 === 0 || (tag & 7) > 5) {
    throw new Error(`invalid protobuf message: illegal tag (field ${tag >>> 3}, wire type ${tag & 7})`);
  }
  return tag;
}

/**
 * Reads a varint as a uint32, keeping the low 32 bits of a longer one (negative int32
 * values are written as 10 bytes), as ts-proto does.
 */
function readUint32(end: number): number {
  const bytes = input;
  let p = at;
  if (p >= end) throw truncated();
  let b = bytes[p++] as number;
  if (b < 0x80) {
    at = p;
    return b;
  }
  let value = b & 0x7f;
  b = bytes[p++] as number;
  value |= (b & 0x7f) << 7;
  if (b >= 0x80) {
    b = bytes[p++] as number;
    value |= (b & 0x7f) << 14;
    if (b >= 0x80) {
      b = bytes[p++] as number;
      value |= (b & 0x7f) << 21;
      if (b >= 0x80) {
        b = bytes[p++] as number;
        value |= b << 28;
        // Bytes 6 to 10 only carry bits above 32: skip them.
        for (let n = 5; b >= 0x80; n++) {
          if (n === 10) throw new Error("invalid protobuf message: varint longer than 10 bytes");
          b = bytes[p++] as number;
        }
      }
    }
  }
  // A read past the input yields undefined, which ends the varint; this catches it.
  if (p > end) throw truncated();
  at = p;
  return value >>> 0;
}

/**
 * Reads an int64 varint as a number. Values beyond ±(2^53 - 1) throw, with ts-proto's
 * messages, rather than being rounded.
 */
function readInt64(end: number): number {
  const bytes = input;
  let p = at;
  let low = 0;
  let high = 0;
  let b = 0x80;
  // Bits 0..27.
  for (let shift = 0; shift < 28 && b >= 0x80; shift += 7) {
    b = bytes[p++] as number;
    low |= (b & 0x7f) << shift;
  }
  if (b >= 0x80) {
    // Bits 28..34 straddle the two words.
    b = bytes[p++] as number;
    low |= (b & 0x0f) << 28;
    high = (b & 0x70) >> 4;
    for (let shift = 3; b >= 0x80; shift += 7) {
      if (shift > 31) throw new Error("invalid protobuf message: varint longer than 10 bytes");
      b = bytes[p++] as number;
      high |= (b & 0x7f) << shift;
    }
  }
  if (p > end) throw truncated();
  at = p;
  // `high` is the signed high word, so this is the two's complement value; it is exact
  // whenever the result is a safe integer, and rounds away from the safe range otherwise.
  const value = high * twoTo32 + (low >>> 0);
  if (value > Number.MAX_SAFE_INTEGER) throw new Error("Value is larger than Number.MAX_SAFE_INTEGER");
  if (value < Number.MIN_SAFE_INTEGER) throw new Error("Value is smaller than Number.MIN_SAFE_INTEGER");
  return value;
}

function readBool(end: number): boolean {
  const bytes = input;
  let p = at;
  let nonZero = false;
  let b = 0x80;
  for (let n = 0; b >= 0x80; n++) {
    if (n === 10) throw new Error("invalid protobuf message: varint longer than 10 bytes");
    b = bytes[p++] as number;
    // Like ts-proto, only bit 63 of the tenth byte counts; its other bits are beyond 64.
    if ((n === 9 ? b & 0x01 : b & 0x7f) !== 0) nonZero = true;
  }
  if (p > end) throw truncated();
  at = p;
  return nonZero;
}

function readDouble(end: number): number {
  const p = at;
  if (end - p < 8) throw truncated();
  // Byte by byte: a subarray for scratch.set would be an allocation per double.
  const bytes = input;
  for (let i = 0; i < 8; i++) scratch[i] = bytes[p + i] as number;
  at = p + 8;
  return scratchView.getFloat64(0, true);
}

function readFloat(end: number): number {
  const p = at;
  if (end - p < 4) throw truncated();
  const bytes = input;
  scratch[0] = bytes[p] as number;
  scratch[1] = bytes[p + 1] as number;
  scratch[2] = bytes[p + 2] as number;
  scratch[3] = bytes[p + 3] as number;
  at = p + 4;
  return scratchView.getFloat32(0, true);
}

/** Reads a length prefix and returns where the length-delimited value ends. */
function readDelimitedEnd(end: number): number {
  const length = readUint32(end);
  if (length > end - at) throw truncated();
  return at + length;
}

function readBytes(end: number): Uint8Array {
  const stop = readDelimitedEnd(end);
  const start = at;
  at = stop;
  // A view, not a copy, as in ts-proto: the payload is usually handed on once, unchanged.
  // Always a plain Uint8Array, also when the input is a Buffer (socket data, or our own
  // pooled output), so decoded messages look the same whatever carried them.
  return new Uint8Array(input.buffer, input.byteOffset + start, stop - start);
}

/**
 * Node's `Buffer.prototype.utf8Slice`, where it exists and behaves: it decodes a range of
 * any Uint8Array without the subarray TextDecoder needs, about twice as fast for strings of
 * envelope size, and replaces invalid UTF-8 exactly as TextDecoder does (both follow the
 * WHATWG decoder). It is not documented API (protobufjs relies on it too), hence the check
 * here and the portable fallback below.
 */
const nodeUtf8Slice = findUtf8Slice();

type Utf8Slice = (this: Uint8Array, start: number, end: number) => string;

function findUtf8Slice(): Utf8Slice | undefined {
  const buffer = (globalThis as { Buffer?: { prototype?: { utf8Slice?: unknown } } }).Buffer;
  const slice = buffer?.prototype?.utf8Slice;
  if (typeof slice !== "function") return undefined;
  try {
    // A leading U+FEFF is kept, and a stray byte becomes U+FFFD, on a plain Uint8Array.
    const probe = Uint8Array.of(0x78, 0xef, 0xbb, 0xbf, 0x61, 0xff, 0x62, 0x78);
    if (slice.call(probe, 1, 7) === "\ufeffa\ufffdb") return slice as Utf8Slice;
  } catch {
    // Not the function we know: use the fallback.
  }
  return undefined;
}

/** Longest string decoded by the inline ASCII loop; longer ones are cheaper in TextDecoder. */
const asciiDecodeMaxLength = 32;

function readString(end: number): string {
  const stop = readDelimitedEnd(end);
  const start = at;
  at = stop;
  if (nodeUtf8Slice !== undefined) return nodeUtf8Slice.call(input, start, stop);
  const length = stop - start;
  const bytes = input;
  if (length <= asciiDecodeMaxLength) {
    const codes: number[] = new Array(length);
    for (let i = 0; i < length; i++) {
      const b = bytes[start + i] as number;
      if (b > 0x7f) return textDecoder.decode(bytes.subarray(start, stop));
      codes[i] = b;
    }
    return String.fromCharCode.apply(undefined, codes);
  }
  // Invalid UTF-8 becomes U+FFFD, as in ts-proto.
  return textDecoder.decode(bytes.subarray(start, stop));
}

/** Skips one field whose tag has been read, with the checks of every other read. */
function skipField(tag: number, end: number, depth: number): void {
  switch (tag & 7) {
    case 0:
      readBool(end);
      return;
    case 1:
      if (end - at < 8) throw truncated();
      at += 8;
      return;
    case 2:
      at = readDelimitedEnd(end);
      return;
    case 3: {
      if (depth === 0) throw new Error("invalid protobuf message: groups nested too deeply");
      for (;;) {
        const inner = readTag(end);
        if ((inner & 7) === 4) {
          if (inner >>> 3 !== tag >>> 3) throw new Error("invalid protobuf message: mismatched end-group tag");
          return;
        }
        skipField(inner, end, depth - 1);
      }
    }
    case 5:
      if (end - at < 4) throw truncated();
      at += 4;
      return;
    default:
      // Wire type 4: an end-group tag without a group. ts-proto stops decoding there
      // and returns what it has; that hides corrupt input, so refuse it.
      throw new Error("invalid protobuf message: unexpected end-group tag");
  }
}
