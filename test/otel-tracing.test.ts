import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { MathTasks } from "../generated/example/v1/math_dingo.js";
import { createClient, createMemoryTransport, createWorker, TaskError } from "../src/index.js";
import { otelTracing } from "../src/otel-tracing.js";

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer("test");
const contextManager = new AsyncLocalStorageContextManager();

before(() => {
  context.setGlobalContextManager(contextManager.enable());
});
after(() => {
  context.disable();
});
beforeEach(() => exporter.reset());

/** A worker and a client on one memory transport, both traced; handlers record the headers they get. */
async function setUp(options: { clientTracing?: boolean } = {}) {
  const transport = createMemoryTransport();
  const tracing = otelTracing({ tracerProvider: provider, messagingSystem: "memory" });
  const worker = createWorker(transport, { tracing });
  const seen: Record<string, string>[] = [];
  await worker.serve(MathTasks, {
    add: ({ a, b }, handler) => {
      seen.push({ ...handler.headers });
      // The handler runs inside its span: spans it starts are its children.
      tracer.startSpan("inside handler").end();
      return { sum: a + b };
    },
    async divide({ dividend, divisor }) {
      await Promise.resolve();
      if (divisor === 0) throw new TaskError("divisor must not be zero", "invalid_argument");
      return { quotient: dividend / divisor };
    },
    countPrimes: () => ({}),
  });
  const math = createClient(MathTasks, transport, options.clientTracing === false ? {} : { tracing });
  return {
    math,
    seen,
    close: async () => {
      await worker.close();
      await transport.close();
    },
  };
}

const finished = (name: string) => exporter.getFinishedSpans().filter((span) => span.name === name);

describe("otelTracing", () => {
  it("the caller's active span is the parent of the worker's span", async () => {
    const { math, seen, close } = await setUp();
    const callerSpan = tracer.startSpan("caller");
    await context.with(trace.setSpan(context.active(), callerSpan), async () => {
      assert.deepEqual(await math.add({ a: 1, b: 2 }), { sum: 3 });
    });
    callerSpan.end();
    await close();
    const [workerSpan] = finished("example.v1.MathTasks/Add");
    assert.ok(workerSpan !== undefined, "the worker span was exported");
    const caller = callerSpan.spanContext();
    assert.equal(workerSpan.spanContext().traceId, caller.traceId);
    assert.equal(workerSpan.parentSpanContext?.spanId, caller.spanId);
    assert.equal(workerSpan.parentSpanContext?.isRemote, true);
    assert.equal(workerSpan.kind, SpanKind.CONSUMER);
    assert.equal(workerSpan.status.code, SpanStatusCode.UNSET);
    assert.equal(workerSpan.attributes["messaging.system"], "memory");
    assert.equal(workerSpan.attributes["dingo.task.attempt"], 1);
    assert.equal(typeof workerSpan.attributes["messaging.message.id"], "string");
    assert.match(seen[0]?.traceparent ?? "", new RegExp(`^00-${caller.traceId}-${caller.spanId}-01$`));
    const [inside] = finished("inside handler");
    assert.equal(inside?.parentSpanContext?.spanId, workerSpan.spanContext().spanId);
  });

  it("a failing handler's span has status ERROR and the exception", async () => {
    const { math, close } = await setUp();
    await tracer.startActiveSpan("caller", async (span) => {
      await assert.rejects(math.divide({ dividend: 1, divisor: 0 }).result, { code: "invalid_argument" });
      span.end();
    });
    await close();
    const [workerSpan] = finished("example.v1.MathTasks/Divide");
    assert.ok(workerSpan !== undefined);
    assert.equal(workerSpan.status.code, SpanStatusCode.ERROR);
    assert.match(workerSpan.status.message ?? "", /invalid_argument: divisor must not be zero/);
    assert.equal(workerSpan.events[0]?.name, "exception");
    assert.equal(workerSpan.attributes["dingo.error.code"], "invalid_argument");
  });

  it("a caller's explicit traceparent wins; without an active span nothing is added", async () => {
    const { math, seen, close } = await setUp();
    const explicit = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    await tracer.startActiveSpan("caller", async (span) => {
      await math.add({ a: 1, b: 1 }, { headers: { TraceParent: explicit, tenant: "acme" } });
      span.end();
    });
    await math.add({ a: 1, b: 1 });
    await close();
    assert.equal(seen[0]?.traceparent, explicit);
    assert.equal(seen[0]?.tenant, "acme");
    assert.equal(seen[1]?.traceparent, undefined);
    const spans = finished("example.v1.MathTasks/Add");
    assert.equal(spans[0]?.spanContext().traceId, "0af7651916cd43dd8448eb211c80319c");
    assert.equal(spans[0]?.parentSpanContext?.spanId, "b7ad6b7169203331");
    assert.equal(spans[1]?.parentSpanContext, undefined, "no trace context: a root span");
  });

  it("a client without tracing sends no trace context", async () => {
    const { math, seen, close } = await setUp({ clientTracing: false });
    await tracer.startActiveSpan("caller", async (span) => {
      await math.add({ a: 1, b: 1 });
      span.end();
    });
    await close();
    assert.deepEqual(seen[0], {});
  });
});
