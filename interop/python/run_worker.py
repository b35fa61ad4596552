#!/usr/bin/python3
"""Serves example.v1.MathTasks over Redis or RabbitMQ until SIGTERM or SIGINT.

    /usr/bin/python3 interop/python/run_worker.py --transport redis --prefix dingo

Prints one line per event on stdout: `ready <worker id>`, `start <task key> <attempt>`,
`retry …`, `done <task key> <status> [code]`, `dead <queue> <reason>`, `closed`.
"""

import argparse
import signal
import sys
import threading

from example_handlers import MATH_TASKS
from protos import pb
from worker import Worker, say


def backend_from(args):
    """The backend the command line asks for (shared by run_worker.py and caller.py)."""
    if args.transport == "redis":
        from redis_backend import RedisBackend

        return RedisBackend(args.redis_url, args.prefix, lease_ms=args.lease_ms), None
    from amqp_backend import AmqpBackend

    results = None
    if args.results == "redis":  # the mixed mode: tasks on RabbitMQ, results in Redis
        from redis_backend import RedisBackend

        results = RedisBackend(args.redis_url, args.prefix)
    return AmqpBackend(args.amqp_url, args.prefix, results=results), results


def transport_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transport", choices=["redis", "amqp"], default="redis")
    parser.add_argument("--prefix", default="dingo", help="key or name prefix (default dingo)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672")
    parser.add_argument("--results", choices=["broker", "redis"], default="broker",
                        help="RabbitMQ: keep results in this process (broker) or in Redis")
    parser.add_argument("--lease-ms", type=int, default=30_000, help="Redis: delivery lease (default 30000)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    transport_options(parser)
    parser.add_argument("--max-deliveries", type=int, default=10)
    parser.add_argument("--exit-with-stdin", action="store_true", help="stop when stdin ends (for a parent process)")
    args = parser.parse_args()
    backend, results = backend_from(args)
    worker = Worker(backend, results=results, max_deliveries=args.max_deliveries)
    worker.serve_service(pb.math.DESCRIPTOR.services_by_name["MathTasks"], MATH_TASKS)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop())
    if args.exit_with_stdin:
        threading.Thread(target=lambda: (sys.stdin.read(), worker.stop()), daemon=True).start()
    try:
        worker.run()
    finally:
        backend.close()
        say("closed")


if __name__ == "__main__":
    main()
