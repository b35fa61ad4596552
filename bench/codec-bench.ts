/**
 * The envelope codec against protobufjs's reflection codec and JSON, encoding and
 * decoding the same Task (and the same Report) in the same run.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import {
  createReport,
  decodeReport,
  decodeTask,
  encodeReport,
  encodeTask,
  type ReportEnvelope,
  ReportLevel,
  type TaskEnvelope,
  wireStatus,
} from "../src/envelope.js";
import { type Figure, rate } from "./measure.js";

/** A typical task: a small payload, a reply address, a retry policy and a trace header. */
export function sampleTask(): TaskEnvelope {
  return {
    id: "0b9f6d4e-8c1a-4f3e-9a57-2d1c3b4a5e6f",
    name: "example.v1.MathTasks/Add",
    payload: new Uint8Array([8, 40, 16, 2]),
    attempt: 1,
    createdAtMs: 1_790_000_000_000,
    replyTo: "memory-inbox-1",
    reportLevel: ReportLevel.REPORT_LEVEL_ALL,
    priority: 5,
    queue: "example.v1.MathTasks/Add",
    notBeforeMs: 0,
    deadlineMs: 0,
    timeoutMs: 2000,
    retry: { maxAttempts: 3, initialBackoffMs: 100, multiplier: 2, maxBackoffMs: 60_000, jitter: 0 },
    resultTtlMs: 0,
    headers: { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
  };
}

/** A typical intermediate report: a failed attempt that will be retried. */
export function sampleReport(): ReportEnvelope {
  return createReport({
    taskId: "0b9f6d4e-8c1a-4f3e-9a57-2d1c3b4a5e6f",
    name: "example.v1.MathTasks/Add",
    status: wireStatus("retry"),
    attempt: 1,
    workerId: "worker-7f3a",
    atMs: 1_790_000_000_123,
    nextAttemptAtMs: 1_790_000_000_223,
    error: { code: 14, message: "[unavailable] the upstream is down", retryable: true, details: [] },
  });
}

export async function codecBench(): Promise<Figure[]> {
  const root = await protobuf.load(join(packageRoot(), "proto/dingo/v1/envelope.proto"));
  const TaskType = root.lookupType("dingo.v1.Task");
  const task = sampleTask();
  const reflective = TaskType.fromObject({ ...task, createdAtMs: task.createdAtMs });

  const envelope = rate(() => decodeTask(encodeTask(task)));
  const protobufjs = rate(() => TaskType.decode(TaskType.encode(reflective).finish()));
  const json = rate(() =>
    JSON.parse(JSON.stringify({ ...task, payload: Buffer.from(task.payload).toString("base64") })),
  );

  const ReportType = root.lookupType("dingo.v1.Report");
  const report = sampleReport();
  const reflectiveReport = ReportType.fromObject({ ...report });
  const reportEnvelope = rate(() => decodeReport(encodeReport(report)));
  const reportProtobufjs = rate(() => ReportType.decode(ReportType.encode(reflectiveReport).finish()));
  return [
    { name: "codec.envelope", value: envelope, unit: "ops/s" },
    { name: "codec.protobufjs", value: protobufjs, unit: "ops/s" },
    { name: "codec.json", value: json, unit: "ops/s" },
    { name: "codec.envelope_vs_protobufjs", value: envelope / protobufjs, unit: "x" },
    { name: "codec.envelope_vs_json", value: envelope / json, unit: "x" },
    { name: "codec.report.envelope", value: reportEnvelope, unit: "ops/s" },
    { name: "codec.report.protobufjs", value: reportProtobufjs, unit: "ops/s" },
    { name: "codec.report.envelope_vs_protobufjs", value: reportEnvelope / reportProtobufjs, unit: "x" },
  ];
}

/** The directory of the nearest package.json above this file (it runs from bench/ or from a bundle in dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("no package.json above the benchmark");
    dir = parent;
  }
  return dir;
}
