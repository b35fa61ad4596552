"""A dingo.v1 worker: the "Worker algorithm" of docs/WIRE.md, step by step, over any backend.

A backend (redis_backend.RedisBackend, amqp_backend.AmqpBackend) moves bytes: it hands
out deliveries and settles them (ack, retry, release, dead_letter), sends reports and
keeps results. This file decides what happens to each delivery.

One task runs at a time. The handler runs in a thread of its own so that this thread
can keep the delivery's lease, send the handler's progress, watch the time limits and
listen for cancellations while it runs; everything that talks to the broker stays on
this thread (pika connections are not thread-safe).
"""

import queue as queues
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from google.protobuf.message import DecodeError

from envelope import (
    Code,
    Failure,
    Progress,
    ReportLevel,
    Status,
    Task,
    TaskError,
    attempts_of,
    code_text,
    failure_of,
    new_worker_id,
    next_attempt,
    now_ms,
    report,
    task_key,
    wants,
)
from protos import pb

EARLY_MS = 5  # step 5: a delivery more than this early is put back
TICK_S = 0.02  # how often the main thread looks at a running handler


class Context:
    """What a handler gets beside its request (WIRE.md step 9)."""

    def __init__(self, task: Task, worker_id: str):
        self.task_id, self.task_name, self.attempt = task.id, task.name, task.attempt
        self.max_attempts = attempts_of(task)
        self.headers = dict(task.headers)
        self.deadline_ms = task.deadline_ms
        self.worker_id = worker_id
        self.aborted = threading.Event()  # the abort signal: deadline, timeout, cancellation, shutdown
        self.abort_reason: Failure | None = None
        self.progress_out: queues.Queue = queues.Queue()

    def progress(self, percent: float = -1, message: str = "", detail: bytes = b"") -> None:
        """Reports progress (percent < 0: unknown). Dropped once the attempt was aborted."""
        if not self.aborted.is_set():
            self.progress_out.put(Progress(percent=percent, message=message, detail=detail))

    def check(self) -> None:
        """Raises the abort reason if the attempt was aborted: long handlers call it often."""
        if self.aborted.is_set():
            raise TaskError.from_failure(self.abort_reason)

    def abort(self, failure: Failure) -> None:
        if not self.aborted.is_set():
            self.abort_reason = failure
            self.aborted.set()


@dataclass
class Handler:
    request: type
    response: type
    run: Callable
    queue: str


@dataclass
class Attempt:
    """The handler thread's outcome."""

    done: threading.Event = field(default_factory=threading.Event)
    response: object = None
    error: BaseException | None = None


def say(line: str) -> None:
    """One line on stdout, flushed: what the test suite waits for."""
    print(line, flush=True)


class Worker:
    def __init__(self, backend, results=None, worker_id: str | None = None, max_deliveries: int = 10,
                 shutdown_timeout_s: float = 10):
        self.backend = backend
        self.results = results or backend  # where results are recorded (the backend's own by default)
        self.worker_id = worker_id or new_worker_id()
        self.max_deliveries = max_deliveries
        self.handlers: dict[str, Handler] = {}
        self.running: Context | None = None
        self.running_key: str | None = None
        self.stopping = threading.Event()
        self.shutdown_timeout_s = shutdown_timeout_s
        self.stopped_at = 0.0
        self.shutdown_abort = False  # the worker aborted a handler itself, to stop

    # ---- registration ---------------------------------------------------------------

    def serve(self, name: str, request: type, response: type, run: Callable, queue: str | None = None) -> None:
        """Serves the task `name` (`<package>.<Service>/<Method>`) on `queue` (default: the name)."""
        self.handlers[name] = Handler(request, response, run, queue or name)

    def serve_service(self, service, methods: dict[str, Callable]) -> None:
        """Serves rpcs of a service descriptor; queues come from its (dingo.v1.*) options."""
        defaults = service.GetOptions().Extensions[pb.options.defaults]
        for method_name, run in methods.items():
            method = service.methods_by_name[method_name]
            options = method.GetOptions().Extensions[pb.options.task]
            name = f"{service.full_name}/{method.name}"
            queue = options.queue or defaults.queue or name
            request, response = (pb_class(method.input_type), pb_class(method.output_type))
            self.serve(name, request, response, run, queue)

    # ---- the loop -----------------------------------------------------------------------

    def run(self) -> None:
        """Consumes until stop() is called (from a signal handler, say)."""
        queue_names = sorted({handler.queue for handler in self.handlers.values()})
        self.backend.consume(queue_names, self.worker_id)
        self.backend.subscribe()
        say(f"ready {self.worker_id}")
        while not self.stopping.is_set():
            self.handle_broadcasts()
            delivery = self.backend.next_delivery(100)
            if delivery is not None:
                if self.stopping.is_set():
                    self.backend.unread(delivery)  # received after the stop: give it back uncounted
                else:
                    self.handle(delivery)

    def stop(self) -> None:
        """Stops taking tasks; a running handler gets shutdown_timeout_s to finish."""
        self.stopped_at = time.monotonic()
        self.stopping.set()

    # ---- one delivery: WIRE.md "Worker algorithm" ----------------------------------------

    def handle(self, delivery) -> None:
        now = now_ms()
        # 1. Decode.
        try:
            delivered = Task.FromString(delivery.body)
        except DecodeError as error:
            return self.dead_letter(delivery, f"undecodable task envelope: {error}")
        # 2. Check identity.
        if not delivered.id or not delivered.name:
            return self.dead_letter(delivery, "task envelope without an id or a name")
        task = Task()
        task.CopyFrom(delivered)
        task.attempt = task.attempt or 1
        key = task_key(task.name, task.id)
        # 3. Unknown task.
        handler = self.handlers.get(task.name)
        if handler is None:
            message = f"no worker serves {task.name} on queue {delivery.queue}"
            return self.fail(delivery, task, Failure(code=Code.CODE_NOT_FOUND, message=message), dead=True)
        # 4. Delivery limit.
        if delivery.count > self.max_deliveries:
            message = f"delivered {delivery.count} times without an outcome (limit {self.max_deliveries})"
            return self.fail(delivery, task, Failure(code=Code.CODE_ABORTED, message=message), dead=True)
        # 5. Too early: put the task back unchanged.
        if delivered.not_before_ms > now + EARLY_MS:
            return self.backend.retry(delivery, delivered)
        # 6. Already finished: answer this copy with the recorded outcome.
        recorded = self.results.lookup(key)
        if recorded is not None:
            if task.reply_to and task.report_level != ReportLevel.REPORT_LEVEL_NONE:
                self.send(task.reply_to, recorded)
            return self.backend.ack(delivery)
        # 7. Deadline.
        if 0 < task.deadline_ms <= now:
            failure = Failure(code=Code.CODE_DEADLINE_EXCEEDED, message="the deadline passed before the task started")
            return self.fail(delivery, task, failure)
        # 8. Payload.
        try:
            request = handler.request.FromString(task.payload)
        except DecodeError as error:
            message = f"the payload does not decode as {handler.request.DESCRIPTOR.full_name}: {error}"
            return self.fail(delivery, task, Failure(code=Code.CODE_INVALID_ARGUMENT, message=message), dead=True)
        # 9. Run.
        context, attempt = self.start(task, handler, request)
        self.watch(delivery, task, context, attempt)
        self.running, self.running_key = None, None
        if context.aborted.is_set():
            return self.on_error(delivery, task, context.abort_reason)
        if attempt.error is not None:
            return self.on_error(delivery, task, failure_of(attempt.error))
        # 10. Success.
        try:
            response = attempt.response if attempt.response is not None else handler.response()
            if not isinstance(response, handler.response):
                raise TypeError(f"expected {handler.response.DESCRIPTOR.full_name}, got {type(response).__name__}")
            payload = response.SerializeToString()
        except Exception as error:  # noqa: BLE001 - any encoding problem is the handler's
            failure = Failure(code=Code.CODE_INTERNAL, message=f"the response does not encode: {error}")
            return self.fail(delivery, task, failure)
        self.finish(task, report(task, Status.STATUS_SUCCESS, self.worker_id, payload=payload))
        say(f"done {key} success")
        self.backend.ack(delivery)

    def start(self, task: Task, handler: Handler, request) -> tuple[Context, Attempt]:
        context = Context(task, self.worker_id)
        self.running, self.running_key = context, task_key(task.name, task.id)
        if task.reply_to and wants(task.report_level, Status.STATUS_RECEIVED):
            self.send(task.reply_to, report(task, Status.STATUS_RECEIVED, self.worker_id).SerializeToString())
        attempt = Attempt()

        def call() -> None:
            try:
                attempt.response = handler.run(request, context)
            except BaseException as error:  # noqa: BLE001 - every failure is the attempt's outcome
                attempt.error = error
            finally:
                attempt.done.set()

        say(f"start {self.running_key} {task.attempt}")
        threading.Thread(target=call, name=f"handler {task.id}", daemon=True).start()
        return context, attempt

    def watch(self, delivery, task: Task, context: Context, attempt: Attempt) -> None:
        """Waits for the handler while keeping the lease, sending progress and enforcing limits."""
        started = now_ms()
        # One timer per attempt at the earlier of the limits; the deadline wins a tie.
        limits = []
        if task.timeout_ms > 0:
            limits.append((started + task.timeout_ms, 1, True, f"the attempt took longer than {task.timeout_ms} ms"))
        if task.deadline_ms > 0:
            limits.append((task.deadline_ms, 0, False, "the deadline passed while the task ran"))
        limit = min(limits) if limits else None
        keep_alive_at = time.monotonic() + self.backend.keep_alive_interval_s
        while not attempt.done.wait(TICK_S) and not context.aborted.is_set():
            self.send_progress(task, context)
            self.handle_broadcasts()
            if time.monotonic() >= keep_alive_at:
                keep_alive_at = time.monotonic() + self.backend.keep_alive_interval_s
                if not self.backend.keep_alive(delivery):
                    say(f"error lease of {task.id} lost to another worker")
            if self.stopping.is_set() and time.monotonic() > self.stopped_at + self.shutdown_timeout_s:
                self.shutdown_abort = True
                context.abort(Failure(code=Code.CODE_UNAVAILABLE, message="the worker is shutting down"))
            if limit is not None and now_ms() >= limit[0]:
                _, _, retryable, message = limit
                context.abort(Failure(code=Code.CODE_DEADLINE_EXCEEDED, message=message, retryable=retryable))
        self.send_progress(task, context)

    def send_progress(self, task: Task, context: Context) -> None:
        while not context.progress_out.empty():
            progress = context.progress_out.get()
            if task.reply_to and wants(task.report_level, Status.STATUS_PROGRESS) and not context.aborted.is_set():
                payload = progress.SerializeToString()
                self.send(task.reply_to, report(task, Status.STATUS_PROGRESS, self.worker_id, payload=payload)
                          .SerializeToString())

    # 11. Error.
    def on_error(self, delivery, task: Task, failure: Failure) -> None:
        if self.shutdown_abort and failure.code == Code.CODE_UNAVAILABLE:
            return self.backend.release(delivery)  # delivered again, to another worker
        retry = next_attempt(task, failure, now_ms())
        if retry is None:
            return self.fail(delivery, task, failure)
        if task.reply_to and wants(task.report_level, Status.STATUS_RETRY):
            retry_report = report(task, Status.STATUS_RETRY, self.worker_id, error=failure,
                                  next_attempt_at_ms=retry.not_before_ms)
            self.send(task.reply_to, retry_report.SerializeToString())
        say(f"retry {task_key(task.name, task.id)} {task.attempt}")
        self.backend.retry(delivery, retry)

    # ---- failure path, recording, reports ------------------------------------------------

    def fail(self, delivery, task: Task, failure: Failure, dead: bool = False) -> None:
        """WIRE.md "Failure path": record, dead-letter if asked, send if recorded, ack last."""
        final = report(task, Status.STATUS_FAILURE, self.worker_id, error=failure)
        recorded, watchers = self.record(task, final)
        if dead:
            self.dead_letter(delivery, f"{code_text(failure.code)}: {failure.message}")
        if recorded:
            self.deliver_final(task, final, watchers)
        say(f"done {task_key(task.name, task.id)} failure {code_text(failure.code)}")
        if not dead:
            self.backend.ack(delivery)

    def finish(self, task: Task, final) -> None:
        recorded, watchers = self.record(task, final)
        if recorded:
            self.deliver_final(task, final, watchers)

    def record(self, task: Task, final) -> tuple[bool, list[str]]:
        return self.results.settle(task_key(task.name, task.id), final.SerializeToString(), task.result_ttl_ms)

    def deliver_final(self, task: Task, final, watchers: list[str]) -> None:
        """Whoever records a final report sends it to reply_to (if wanted) and to every watcher."""
        body = final.SerializeToString()
        if task.reply_to and wants(task.report_level, final.status):
            self.send(task.reply_to, body)
        for watcher in watchers:
            if watcher != task.reply_to:
                self.send(watcher, body)

    def dead_letter(self, delivery, reason: str) -> None:
        say(f"dead {delivery.queue} {reason}")
        self.backend.dead_letter(delivery, reason)

    def send(self, address: str, body: bytes) -> None:
        try:
            self.backend.send(address, body)
        except Exception as error:  # noqa: BLE001 - a lost report is not the task's failure
            print(f"report to {address} not sent: {error}", file=sys.stderr, flush=True)

    # ---- cancellation ("Cancellation") ---------------------------------------------------

    def handle_broadcasts(self) -> None:
        for body in self.backend.poll_broadcasts():
            try:
                cancelled = pb.envelope.Report.FromString(body)
            except DecodeError:
                continue
            if cancelled.status != Status.STATUS_CANCELLED:
                continue
            key = task_key(cancelled.name, cancelled.task_id)
            self.results.settle(key, body, 0)  # skips a queued copy where results are per process
            if self.running is not None and self.running_key == key:
                reason = Failure(code=Code.CODE_CANCELLED, message=cancelled.error.message or "cancelled")
                self.running.abort(reason)


def pb_class(descriptor) -> type:
    """The generated class of a message descriptor."""
    from google.protobuf import symbol_database

    return symbol_database.Default().GetSymbol(descriptor.full_name)
