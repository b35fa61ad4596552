// Compile-time tests of the generated example definitions: checked by `tsc --noEmit -p .`
// and by test/codegen/misuse-types.test.ts, never run. Each `@ts-expect-error` must be a
// real error (tsc fails on an unused one), so if the generated types degraded to `any`
// this file would stop compiling.
import { createClient, createMemoryTransport, createWorker, type ServiceHandlers } from "dingo-ts";
import { MathTasks, type MathTasksClient, type MathTasksHandlers } from "../../generated/example/v1/math_dingo.js";

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** Never called: the body only has to typecheck. */
export async function misuse(): Promise<void> {
  const transport = createMemoryTransport();
  const math: MathTasksClient = createClient(MathTasks, transport);
  const worker = createWorker(transport);

  // Correct usage compiles, with precise types.
  const { sum } = await math.add({ a: 1, b: 2 });
  const sumIsNumber: Equals<typeof sum, number> = true;
  const call = math.divide({ dividend: 1 }, { timeoutMs: 100 });
  const quotient: number = (await call).quotient;
  const handlers: MathTasksHandlers = {
    add: (request) => ({ sum: request.a + request.b }),
    divide: async ({ dividend, divisor }) => ({ quotient: dividend / divisor }),
    async countPrimes(request, context) {
      await context.progress({ percent: 50 });
      return { count: request.limit > 2 ? 1 : 0 };
    },
  };
  const mapped: ServiceHandlers<typeof MathTasks> = handlers;
  await worker.serve(MathTasks, handlers);

  // @ts-expect-error a request field of the wrong type: a is a number
  math.add({ a: "1" });

  // @ts-expect-error a method the service does not have
  math.subtract({ a: 1, b: 2 });

  // @ts-expect-error the response is an AddResponse: sum is a number
  const sumAsString: string = (await math.add({})).sum;

  await worker.serve(MathTasks, {
    // @ts-expect-error a handler returning the wrong response type
    add: () => ({ sum: "3" }),
    divide: () => ({}),
    countPrimes: () => ({}),
  });

  const wrongHandlers: MathTasksHandlers = {
    // @ts-expect-error a handler returning another method's response
    add: async () => ({ quotient: 1 }),
    divide: () => ({}),
    countPrimes: () => ({}),
  };

  // @ts-expect-error a handler is missing
  await worker.serve(MathTasks, { add: () => ({}) });

  void [sumIsNumber, quotient, mapped, sumAsString, wrongHandlers];
}
