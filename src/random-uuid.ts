import { Buffer } from "node:buffer";
import { webcrypto } from "node:crypto";

/** Random bytes drawn from the system CSPRNG in batches: one call per 256 ids. */
const pool = new Uint8Array(4096);
let used = pool.length;

/** The ASCII text of one id is written here, then read out as one flat string. */
const text = Buffer.alloc(36, "-");

/** Where the two hex digits of each of the 16 bytes go in `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`. */
const offsets = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/** The two ASCII hex digits of each byte value, high digit in the low 8 bits. */
const hexDigits = Uint16Array.from({ length: 256 }, (_, byte) => {
  const digits = byte.toString(16).padStart(2, "0");
  return digits.charCodeAt(0) | (digits.charCodeAt(1) << 8);
});

/**
 * A random (version 4) UUID in lower-case text, like `crypto.randomUUID()`.
 *
 * Why not `crypto.randomUUID()`: it builds its text by concatenating 20 pieces, which
 * made it one of the largest allocations of a call on the memory transport (~0.6 KB
 * of strings per id). This writes the digits into one buffer and reads them out as
 * one string, about four times faster. Randomness comes from the same CSPRNG.
 */
export function randomUuid(): string {
  if (used + 16 > pool.length) {
    webcrypto.getRandomValues(pool);
    used = 0;
  }
  const start = used;
  used += 16;
  pool[start + 6] = ((pool[start + 6] as number) & 0x0f) | 0x40; // version 4
  pool[start + 8] = ((pool[start + 8] as number) & 0x3f) | 0x80; // variant 10
  for (let i = 0; i < 16; i++) {
    const digits = hexDigits[pool[start + i] as number] as number;
    const at = offsets[i] as number;
    text[at] = digits & 0xff;
    text[at + 1] = digits >> 8;
  }
  return text.toString("latin1", 0, 36);
}
