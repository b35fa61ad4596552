import type { MathTasksHandlers } from "../generated/example/v1/math_dingo.js";
import { TaskError } from "../src/index.js";

/** The example service's handlers, shared by the demo and the tests. */
export const mathHandlers: MathTasksHandlers = {
  add({ a, b }) {
    return { sum: a + b };
  },

  divide({ dividend, divisor }) {
    if (divisor === 0) throw new TaskError("divisor must not be zero", "invalid_argument");
    return { quotient: dividend / divisor };
  },

  async countPrimes({ limit, reportEvery }, context) {
    const step = reportEvery > 0 ? reportEvery : Math.max(1, Math.ceil(limit / 10));
    let count = 0;
    let largest = 0;
    for (let n = 2; n < limit; n++) {
      context.signal.throwIfAborted();
      if (isPrime(n)) {
        count++;
        largest = n;
      }
      if (n % step === 0) await context.progress({ percent: (100 * n) / limit, message: `${count} primes below ${n}` });
    }
    return { count, largest };
  },
};

function isPrime(n: number): boolean {
  if (n < 4) return n > 1;
  if (n % 2 === 0) return false;
  for (let divisor = 3; divisor * divisor <= n; divisor += 2) if (n % divisor === 0) return false;
  return true;
}
