/**
 * A Buffer view of bytes, without a copy. ioredis writes only Buffers and strings as
 * binary arguments (a plain Uint8Array would be sent as its `toString()`), and envelope
 * bytes are views into append-only blocks, so a view stays valid until it is written.
 */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A plain Uint8Array view of bytes read from Redis, without a copy. */
export function asBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === "string") return new Uint8Array(Buffer.from(value));
  return new Uint8Array(0);
}

/** Text of a reply that may be a Buffer or a string. */
export function asText(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString();
  return String(value);
}
