"""Handlers of the example service example.v1.MathTasks (proto/example/v1/math.proto).

They behave like the TypeScript ones in examples/math-handlers.ts, so that either
language's worker gives a caller the same answers.
"""

import math

from envelope import TaskError
from protos import pb


def add(request, context):
    """Adds. The `fail-attempts` header (a number n) makes attempts 1..n fail with
    UNAVAILABLE (retryable): a way to watch retries across languages."""
    failing = int(context.headers.get("fail-attempts", "0") or 0)
    if context.attempt <= failing:
        raise TaskError("unavailable", f"attempt {context.attempt} fails, as the fail-attempts header asks")
    return pb.math.AddResponse(sum=request.a + request.b)


def divide(request, context):
    if request.divisor == 0:
        raise TaskError("invalid_argument", "divisor must not be zero")
    return pb.math.DivideResponse(quotient=request.dividend / request.divisor)


def count_primes(request, context):
    """Counts primes below `limit`, reporting progress every `report_every` numbers
    (0: in 10% steps), and stops when the attempt is aborted."""
    limit = request.limit
    step = request.report_every or max(1, math.ceil(limit / 10))
    count = largest = 0
    for n in range(2, limit):
        context.check()
        if is_prime(n):
            count, largest = count + 1, n
        if n % step == 0:
            context.progress(100 * n / limit, f"{count} primes below {n}")
    return pb.math.CountPrimesResponse(count=count, largest=largest)


def is_prime(n: int) -> bool:
    if n < 4:
        return n > 1
    if n % 2 == 0:
        return False
    return all(n % divisor for divisor in range(3, math.isqrt(n) + 1, 2))


MATH_TASKS = {"Add": add, "Divide": divide, "CountPrimes": count_primes}
