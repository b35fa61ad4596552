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

  it("evicts by nearest expiry across TTLs, and skips records settled or replaced since", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const store = new MemoryResultStore({ defaultTtlMs: 60_000, maxEntries: 3 });
    await store.claim("claimed", "", 0); // pending until 1_060_000
    await store.settle("claimed", bytes(1), 500_000); // now until 1_500_000: its claim's expiry no longer counts
    await store.settle("later", bytes(2), 300_000);
    await store.settle("sooner", bytes(3), 200_000);
    await store.settle("new", bytes(4), 400_000);
    assert.equal(await store.lookup("sooner"), undefined);
    for (const key of ["claimed", "later", "new"]) assert.notEqual(await store.lookup(key), undefined, key);
    await store.settle("newer", bytes(5), 400_000);
    assert.equal(await store.lookup("later"), undefined);
    assert.deepEqual([...((await store.lookup("claimed")) ?? [])], [1]);
    assert.equal(store.size, 3);
    store.close();
  });

  it("expires records of mixed TTLs each at its own time", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const store = new MemoryResultStore({ defaultTtlMs: 1_000, maxEntries: 100 });
    const ttls = { a: 300, b: 100, c: 0, d: 200, e: 100 };
    for (const [key, ttl] of Object.entries(ttls)) await store.settle(key, bytes(ttl % 256), ttl);
    const visible = async () => {
      const keys: string[] = [];
      for (const key of Object.keys(ttls)) if ((await store.lookup(key)) !== undefined) keys.push(key);
      return keys;
    };
    t.mock.timers.tick(100);
    assert.deepEqual(await visible(), ["a", "c", "d"]);
    assert.equal(store.size, 5, "expired records are invisible before they are swept");
    store.sweep();
    assert.equal(store.size, 3);
    t.mock.timers.tick(150);
    store.sweep();
    assert.deepEqual(await visible(), ["a", "c"]);
    assert.equal(store.size, 2);
    t.mock.timers.tick(1_000);
    store.sweep();
    assert.equal(store.size, 0);
    store.close();
  });

  it("never confuses a freed record with the one that takes its place", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const store = new MemoryResultStore({ defaultTtlMs: 60_000, maxEntries: 2 });
    await store.settle("a", bytes(1), 0);
    await store.settle("b", bytes(2), 0);
    await store.settle("c", bytes(3), 0); // evicts "a", and takes its place
    assert.equal(await store.lookup("a"), undefined);
    assert.deepEqual([...((await store.lookup("c")) ?? [])], [3]);
    assert.deepEqual(await store.claim("a", "inbox", 0), { status: "claimed" }); // evicts "b"
    assert.deepEqual(await store.claim("c", "inbox", 0), { status: "settled", report: bytes(3) });
    assert.equal(await store.lookup("b"), undefined);

    // A claim settled with a shorter TTL: the claim's expiry must not free what replaces it.
    const other = new MemoryResultStore({ defaultTtlMs: 60_000, maxEntries: 10 });
    await other.claim("k", "", 0);
    await other.settle("k", bytes(1), 100);
    t.mock.timers.tick(101);
    other.sweep();
    assert.equal(other.size, 0);
    await other.settle("x", bytes(2), 0);
    t.mock.timers.tick(59_950); // past the claim's original expiry, not past "x"'s
    other.sweep();
    assert.deepEqual([...((await other.lookup("x")) ?? [])], [2]);
    store.close();
    other.close();
  });

  it("hands the watchers of a claim to its settlement only while the claim is live", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const store = new MemoryResultStore({ defaultTtlMs: 1_000, maxEntries: 100 });
    await store.claim("live", "", 5_000);
    await store.claim("live", "inbox-a", 0);
    await store.claim("live", "", 0); // no address: nothing to add
    await store.claim("live", "inbox-b", 0);
    await store.claim("gone", "", 0);
    await store.claim("gone", "inbox-c", 0);
    t.mock.timers.tick(2_000);
    assert.deepEqual(await store.settle("live", bytes(1), 0), { recorded: true, watchers: ["inbox-a", "inbox-b"] });
    assert.deepEqual(await store.settle("gone", bytes(2), 0), { recorded: true, watchers: [] });
    assert.deepEqual(await store.claim("gone", "inbox-d", 0), { status: "settled", report: bytes(2) });
    store.close();
  });

  it("keeps small and large reports intact across blocks", async () => {
    const store = new MemoryResultStore({ defaultTtlMs: 60_000, maxEntries: 1_000 });
    const shared = new Uint8Array(8_192);
    const lengths = [0, 1, 4_096, 4_097, 3_000, 8_192, 50, 3_999];
    const reports: Uint8Array[] = [];
    for (let round = 0; round < 40; round++) {
      for (const [i, length] of lengths.entries()) {
        const report = shared.subarray(0, length).fill((round * 8 + i) % 256);
        reports.push(report.slice());
        await store.settle(`r/${reports.length - 1}`, report, 0);
      }
    }
    shared.fill(255);
    for (const [i, expected] of reports.entries()) assert.deepEqual(await store.lookup(`r/${i}`), expected, `r/${i}`);
    store.close();
  });

  it("answers as a plain map would through many insertions, expiries and removals", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const store = new MemoryResultStore({ defaultTtlMs: 200, maxEntries: 100_000 });
    const model = new Map<string, { value: number; expiresAtMs: number }>();
    let seed = 42;
    const random = (n: number) => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let step = 0; step < 20_000; step++) {
      const key = `task/${random(3_000)}`;
      const now = Date.now();
      const held = model.get(key);
      const live = held !== undefined && held.expiresAtMs > now ? held : undefined;
      if (random(2) === 0) {
        const ttl = [0, 50, 100, 300][random(4)] as number;
        const { recorded } = await store.settle(key, bytes(step % 256), ttl);
        assert.equal(recorded, live === undefined, `settle ${key} at step ${step}`);
        if (recorded) model.set(key, { value: step % 256, expiresAtMs: now + (ttl > 0 ? ttl : 200) });
      } else {
        const found = await store.lookup(key);
        assert.deepEqual(found, live === undefined ? undefined : bytes(live.value), `lookup ${key} at step ${step}`);
      }
      if (random(20) === 0) t.mock.timers.tick(random(30));
      if (random(500) === 0) {
        store.sweep();
        for (const [k, record] of model) if (record.expiresAtMs <= Date.now()) model.delete(k);
        assert.equal(store.size, model.size);
      }
    }
    store.close();
  });
});
