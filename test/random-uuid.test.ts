import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { randomUuid } from "../src/random-uuid.js";

const uuidV4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("randomUuid", () => {
  it("makes distinct version 4 UUIDs across many pool refills", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const id = randomUuid();
      assert.match(id, uuidV4);
      seen.add(id);
    }
    assert.equal(seen.size, 100_000);
  });

  it("uses every hex digit in every random position", () => {
    // 36 positions; the dashes, the version digit and the variant digit are fixed.
    const digitsAt = Array.from({ length: 36 }, () => new Set<string>());
    for (let i = 0; i < 5_000; i++) {
      const id = randomUuid();
      for (let at = 0; at < id.length; at++) digitsAt[at]?.add(id[at] as string);
    }
    for (const [at, digits] of digitsAt.entries()) {
      if ([8, 13, 18, 23].includes(at)) assert.deepEqual([...digits], ["-"]);
      else if (at === 14) assert.deepEqual([...digits], ["4"]);
      else if (at === 19) assert.deepEqual([...digits].sort(), ["8", "9", "a", "b"]);
      else assert.equal(digits.size, 16, `position ${at}`);
    }
  });

  it("returns strings that do not change when the next id is made", () => {
    const first = randomUuid();
    const copy = `${first}`;
    randomUuid();
    assert.equal(first, copy);
  });
});
