import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryResultStore } from "../src/transport/memory-result-store.js";

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

describe("MemoryResultStore", () => {
  it("records the first final report only, and returns the watchers of a pending claim", async () => {
    const store = new MemoryResultStore({ defaultTtlMs: 60_000, maxEntries: 100 });
    assert.deepEqual(await store.claim("t/1", "inbox-a", 0), { status: "claimed" });
    assert.deepEqual(await store.claim("t/1", "inbox-b", 0), { status: "pending" });
    assert.deepEqual(await store.claim("t/1", "inbox-b", 0), { status: "pending" });
    assert.deepEqual(await store.settle("t/1", bytes(1, 2), 0), { recorded: true, watchers: ["inbox-b"] });
    assert.deepEqual(await store.settle("t/1", bytes(9), 0), { recorded: false, watchers: [] });
    assert.deepEqual([...((await store.lookup("t/1")) ?? [])], [1, 2]);
    const claim = await store.claim("t/1", "inbox-c", 0);
    assert.equal(claim.status, "settled");
    store.close();
  });

  it("keeps its own copy of each report", async () => {
    const store = new MemoryResultStore({ defaultTtlMs: 60_000, maxEntries: 100 });
    const report = bytes(1, 2, 3);
    await store.settle("t/1", report, 0);
    report.fill(0);
    assert.deepEqual([...((await store.lookup("t/1")) ?? [])], [1, 2, 3]);
    const large = new Uint8Array(10_000).fill(7);
    await store.settle("t/2", large, 0);
    large.fill(0);
    assert.equal((await store.lookup("t/2"))?.[9_999], 7);
    store.close();
  });

  it("forgets records when their retention passes", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const store = new MemoryResultStore({ defaultTtlMs: 60_000, maxEntries: 100 });
    await store.settle("short", bytes(1), 100);
    await store.settle("default", bytes(2), 0);
    t.mock.timers.tick(101);
    assert.equal(await store.lookup("short"), undefined);
    assert.notEqual(await store.lookup("default"), undefined);
    // An expired record no longer blocks a new outcome.
    assert.equal((await store.settle("short", bytes(3), 100)).recorded, true);
    store.sweep();
    assert.equal(store.size, 2);
    t.mock.timers.tick(60_000);
    store.sweep();
    assert.equal(store.size, 0);
    store.close();
  });

  it("holds at most maxEntries records, dropping those closest to expiry first", async () => {
    const store = new MemoryResultStore({ defaultTtlMs: 60_000, maxEntries: 3 });
    await store.settle("long", bytes(1), 120_000);
    for (const key of ["a", "b", "c", "d"]) await store.settle(key, bytes(2), 0);
    assert.equal(store.size, 3);
    assert.notEqual(await store.lookup("long"), undefined);
    assert.equal(await store.lookup("a"), undefined);
    assert.equal(await store.lookup("b"), undefined);
    assert.notEqual(await store.lookup("d"), undefined);
    store.close();
  });
});
