import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Redis } from "ioredis";
import type { ScriptArgument } from "../src/transport/redis-scripts.js";
import { RedisTickBatch } from "../src/transport/redis-tick-batch.js";

/**
 * A stand-in for an ioredis connection that records the scripts run on it, in order. Not
 * "ready", so `batchTickWrites` leaves it alone: what is checked is the order in which the
 * batches issue their scripts, which is the order of the commands on a real socket.
 */
function recordingConnection(): { redis: Redis; runs: string[] } {
  const runs: string[] = [];
  const script =
    (name: string) =>
    (...args: ScriptArgument[]): Promise<unknown> => {
      runs.push(`${name} ${args.map(String).join(" ")}`);
      return Promise.resolve(args.slice(1).map((_, index) => index));
    };
  const redis = { status: "wait", dingoAckBuffer: script("ack"), dingoSendBuffer: script("send") };
  return { redis: redis as unknown as Redis, runs };
}

describe("RedisTickBatch", () => {
  it("runs a `last` batch after the other batches of its tick, whichever was queued first", async () => {
    const { redis, runs } = recordingConnection();
    const acks = new RedisTickBatch<string>(redis, "dingoAck", (key, ids) => [key, ...ids], { last: true });
    const sends = new RedisTickBatch<string>(redis, "dingoSend", (key, reports) => [key, ...reports]);
    const acked = acks.add("stream", "1-0");
    const sent = sends.add("inbox", "report-2");
    const acked2 = acks.add("stream", "2-0");
    assert.deepEqual(runs, [], "nothing runs before the end of the tick");
    await Promise.all([acked, sent, acked2]);
    assert.deepEqual(runs, ["send inbox report-2", "ack stream 1-0 2-0"]);
  });

  it("runs a group that filled up at the end of the tick too, in the order groups filled", async () => {
    const { redis, runs } = recordingConnection();
    const sends = new RedisTickBatch<string>(redis, "dingoSend", (key, reports) => [key, ...reports], { maxItems: 2 });
    const acks = new RedisTickBatch<string>(redis, "dingoAck", (key, ids) => [key, ...ids], {
      last: true,
      maxItems: 2,
    });
    const replies = [
      acks.add("stream", "1-0"),
      acks.add("stream", "2-0"),
      acks.add("stream", "3-0"),
      sends.add("inbox", "a"),
      sends.add("inbox", "b"),
      sends.add("inbox", "c"),
    ];
    assert.deepEqual(runs, [], "a full group waits for the end of the tick");
    await Promise.all(replies);
    assert.deepEqual(runs, ["send inbox a b", "send inbox c", "ack stream 1-0 2-0", "ack stream 3-0"]);
  });

  it("gives each item its own entry of its run's reply, across full groups", async () => {
    const { redis } = recordingConnection();
    const sends = new RedisTickBatch<string>(redis, "dingoSend", (key, reports) => [key, ...reports], { maxItems: 2 });
    const own = await Promise.all(["a", "b", "c"].map((report) => sends.addOwn("inbox", report)));
    // The stand-in replies 0, 1, … for the items of each run.
    assert.deepEqual(own, [0, 1, 0]);
  });
});
