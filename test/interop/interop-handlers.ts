import { mathHandlers } from "../../examples/math-handlers.js";
import type { MathTasksHandlers } from "../../generated/example/v1/math_dingo.js";
import { TaskError } from "../../src/index.js";

/**
 * The example handlers as the Python reference worker has them too
 * (interop/python/example_handlers.py): `add` fails attempts 1..n with `unavailable` when
 * the task's `fail-attempts` header says n, so that retries can be watched across languages.
 */
export const interopHandlers: MathTasksHandlers = {
  ...mathHandlers,
  add(request, context) {
    const failing = Number(context.headers["fail-attempts"] ?? "0");
    if (context.attempt <= failing) {
      throw new TaskError(`attempt ${context.attempt} fails, as the fail-attempts header asks`, "unavailable");
    }
    return mathHandlers.add(request, context);
  },
};
