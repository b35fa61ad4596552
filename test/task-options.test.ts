import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffMs } from "../src/backoff.js";
import { resolveTaskOptions } from "../src/task-options.js";

describe("resolveTaskOptions", () => {
  it("applies defaults, then layers field by field, later layers winning; zero means unset", () => {
    assert.deepEqual(resolveTaskOptions("pkg.S/M"), {
      queue: "pkg.S/M",
      maxAttempts: 1,
      initialBackoffMs: 1000,
      backoffMultiplier: 2,
      maxBackoffMs: 60_000,
      backoffJitter: 0,
      timeoutMs: 0,
      priority: 0,
      resultTtlMs: 0,
    });
    const resolved = resolveTaskOptions(
      "pkg.S/M",
      { queue: "shared", maxAttempts: 3, priority: 2 },
      { maxAttempts: 5, timeoutMs: 100 },
      undefined,
      { priority: 0, timeoutMs: 50, backoffJitter: 0.5 },
    );
    assert.equal(resolved.queue, "shared");
    assert.equal(resolved.maxAttempts, 5);
    assert.equal(resolved.priority, 2, "0 in a later layer does not override");
    assert.equal(resolved.timeoutMs, 50);
    assert.equal(resolved.backoffJitter, 0.5);
  });

  it("clamps priority to 0..9 and attempts to at least 1", () => {
    const resolved = resolveTaskOptions("pkg.S/M", { priority: 42, maxAttempts: -3 });
    assert.equal(resolved.priority, 9);
    assert.equal(resolved.maxAttempts, 1);
  });
});

describe("backoffMs", () => {
  const policy = { maxAttempts: 10, initialBackoffMs: 100, multiplier: 3, maxBackoffMs: 2000, jitter: 0 };

  it("grows exponentially from the initial wait and stops at the maximum", () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((attempt) => backoffMs(policy, attempt)),
      [100, 300, 900, 2000, 2000],
    );
  });

  it("reads a multiplier of 0 as 2 and a maximum of 0 as unbounded", () => {
    const open = { ...policy, multiplier: 0, maxBackoffMs: 0 };
    assert.deepEqual(
      [1, 2, 8].map((attempt) => backoffMs(open, attempt)),
      [100, 200, 12_800],
    );
  });

  it("reduces each wait by up to `jitter` of it, at random", () => {
    const jittered = { ...policy, jitter: 0.5 };
    assert.equal(
      backoffMs(jittered, 2, () => 0),
      300,
    );
    assert.equal(
      backoffMs(jittered, 2, () => 0.5),
      225,
    );
    assert.equal(
      backoffMs(jittered, 2, () => 0.999_999),
      150,
    );
  });
});
