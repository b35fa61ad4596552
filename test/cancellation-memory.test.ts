import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CancellationMemory } from "../src/cancellation-memory.js";

describe("CancellationMemory", () => {
  it("trusts nothing before the subscription is up", () => {
    const memory = new CancellationMemory(0);
    assert.equal(memory.mayHaveBeenCancelled("T/1", 10_000), true);
  });

  it("trusts tasks created after it began listening, by more than the clock skew", () => {
    const memory = new CancellationMemory(50);
    memory.listeningSince(1000);
    assert.equal(memory.mayHaveBeenCancelled("T/1", 999), true);
    assert.equal(memory.mayHaveBeenCancelled("T/1", 1050), true);
    assert.equal(memory.mayHaveBeenCancelled("T/1", 1051), false);
  });

  it("sends every task whose cancellation it heard to the store", () => {
    const memory = new CancellationMemory(0);
    memory.listeningSince(1000);
    memory.heardCancellation("T/1", 2000);
    assert.equal(memory.mayHaveBeenCancelled("T/1", 5000), true);
    assert.equal(memory.mayHaveBeenCancelled("T/2", 5000), false);
  });

  it("trusts nothing while deaf, and only tasks created after it listens again", () => {
    const memory = new CancellationMemory(0);
    memory.listeningSince(1000);
    memory.deaf();
    assert.equal(memory.mayHaveBeenCancelled("T/1", 5000), true);
    memory.listeningSince(6000);
    assert.equal(memory.mayHaveBeenCancelled("T/1", 5000), true);
    assert.equal(memory.mayHaveBeenCancelled("T/1", 6001), false);
  });

  it("forgets the oldest cancellation beyond its capacity, and then distrusts tasks created before it was heard", () => {
    const memory = new CancellationMemory(0, 2);
    memory.listeningSince(1000);
    memory.heardCancellation("T/1", 2000);
    memory.heardCancellation("T/2", 3000);
    memory.heardCancellation("T/3", 4000);
    // T/1 is forgotten: a task created before 2000 might be it.
    assert.equal(memory.mayHaveBeenCancelled("T/1", 1500), true);
    assert.equal(memory.mayHaveBeenCancelled("T/1", 2500), false);
    assert.equal(memory.mayHaveBeenCancelled("T/2", 2500), true);
    assert.equal(memory.mayHaveBeenCancelled("T/3", 2500), true);
  });
});
