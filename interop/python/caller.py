#!/usr/bin/python3
"""A dingo.v1 caller (WIRE.md "Caller"): sends one task and prints its reports.

    /usr/bin/python3 interop/python/caller.py --transport redis example.v1.MathTasks/Add '{"a": 1, "b": 2}'

Prints one JSON object per report on stdout (`sent`, `received`, `progress`, `retry`,
then exactly one of `success`, `failure`, `cancelled`) and exits 0 once the final one
arrived, or 2 if --wait-ms passed first.
"""

import argparse
import json
import sys
import time
import uuid

from google.protobuf import json_format, symbol_database
from google.protobuf.message import DecodeError

from envelope import (
    FINAL_STATUSES,
    Code,
    Failure,
    Progress,
    Report,
    ReportLevel,
    RetryPolicy,
    Status,
    Task,
    code_text,
    now_ms,
    task_key,
)
from protos import pb
from run_worker import backend_from, transport_options

LEVELS = {"all": ReportLevel.REPORT_LEVEL_ALL, "no-progress": ReportLevel.REPORT_LEVEL_NO_PROGRESS,
          "final": ReportLevel.REPORT_LEVEL_FINAL}


def task_options(name: str):
    """The task's options from its .proto: service defaults, then the method's (WIRE.md "Task options")."""
    options = pb.options.TaskOptions()
    service_name, _, method_name = name.partition("/")
    try:
        service = symbol_database.Default().pool.FindServiceByName(service_name)
    except KeyError:
        return options, None
    method = service.methods_by_name.get(method_name)
    if method is None:
        return options, None
    # Later layers win field by field; zero means unset (MergeFrom skips unset scalars).
    options.MergeFrom(service.GetOptions().Extensions[pb.options.defaults])
    options.MergeFrom(method.GetOptions().Extensions[pb.options.task])
    return options, method


class Caller:
    def __init__(self, backend):
        self.backend = backend
        self.inbox = None

    def send(self, name: str, payload: bytes, options, *, task_id=None, level=ReportLevel.REPORT_LEVEL_FINAL,
             delay_ms=0, deadline_ms=0, headers=None) -> Task:
        """Steps 1-6: claim (for a chosen id), build and publish the Task."""
        if self.inbox is None:
            self.inbox = self.backend.open_inbox()
        queue = options.queue or name
        not_before_ms = now_ms() + delay_ms if delay_ms > 0 else 0
        task = Task(
            id=task_id or str(uuid.uuid4()), name=name, payload=payload, attempt=1, created_at_ms=now_ms(),
            reply_to=self.inbox, report_level=level, priority=min(9, options.priority), queue=queue,
            not_before_ms=not_before_ms, deadline_ms=deadline_ms, timeout_ms=options.timeout_ms,
            result_ttl_ms=options.result_ttl_ms, headers={k.lower(): v for k, v in (headers or {}).items()},
        )
        if options.max_attempts > 1:
            task.retry.CopyFrom(RetryPolicy(
                max_attempts=options.max_attempts, initial_backoff_ms=options.initial_backoff_ms or 1000,
                multiplier=options.backoff_multiplier or 2, max_backoff_ms=options.max_backoff_ms or 60_000,
                jitter=options.backoff_jitter))
        if task_id is not None:  # a chosen id may collide: claim the key first
            state, recorded = self.backend.claim(task_key(name, task.id), self.inbox, delay_ms + task.result_ttl_ms)
            if state != "claimed":
                self.answer = recorded
                return task
        self.answer = None
        self.backend.publish(task.SerializeToString(), queue, task.priority, not_before_ms, task.id)
        return task

    def reports(self, task: Task, wait_s: float):
        """Steps 7-8: the task's reports from the inbox, up to and including the final one."""
        yield Report(task_id=task.id, name=task.name, status=Status.STATUS_SENT, at_ms=now_ms())
        if self.answer is not None:  # settled before: the recorded outcome is the answer
            yield Report.FromString(self.answer)
            return
        key, give_up = task_key(task.name, task.id), time.monotonic() + wait_s
        while time.monotonic() < give_up:
            for body in self.backend.read_inbox(min(1.0, give_up - time.monotonic())):
                try:
                    report = Report.FromString(body)
                except DecodeError:
                    continue
                if task_key(report.name, report.task_id) != key or report.status not in Status.values():
                    continue  # another task's, or a status this caller does not know
                if report.status in (Status.STATUS_UNSPECIFIED, Status.STATUS_SENT):
                    continue
                yield report
                if report.status in FINAL_STATUSES:
                    return
        raise TimeoutError(f"no final report for {key} within {wait_s} s")

    def cancel(self, task: Task, reason: str = "cancelled by the caller") -> Report:
        """WIRE.md "Cancellation": record CANCELLED, then broadcast it; returns the task's outcome."""
        cancelled = Report(
            task_id=task.id, name=task.name, status=Status.STATUS_CANCELLED, attempt=0, worker_id="", at_ms=now_ms(),
            error=Failure(code=Code.CODE_CANCELLED, message=reason, retryable=False),
        )
        body = cancelled.SerializeToString()
        key = task_key(task.name, task.id)
        recorded, watchers = self.backend.settle(key, body, task.result_ttl_ms)
        if not recorded:  # the task has an outcome already: that is the answer
            outcome = self.backend.lookup(key)
            return Report.FromString(outcome) if outcome is not None else cancelled
        self.backend.broadcast(body)
        for watcher in watchers:
            self.backend.send(watcher, body)
        return cancelled


def as_json(report: Report, response_type) -> dict:
    out = {"status": Status.Name(report.status)[len("STATUS_"):].lower(), "attempt": report.attempt,
           "workerId": report.worker_id, "atMs": report.at_ms}
    if report.status == Status.STATUS_PROGRESS:
        progress = Progress.FromString(report.payload)
        out["progress"] = {"percent": progress.percent, "message": progress.message}
    if report.status == Status.STATUS_SUCCESS:
        response = response_type.FromString(report.payload)
        out["response"] = json_format.MessageToDict(response, including_default_value_fields=True)
    if report.status in (Status.STATUS_RETRY, Status.STATUS_FAILURE, Status.STATUS_CANCELLED):
        out["error"] = {"code": code_text(report.error.code), "message": report.error.message,
                        "retryable": report.error.retryable}
    if report.status == Status.STATUS_RETRY:
        out["nextAttemptAtMs"] = report.next_attempt_at_ms
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    transport_options(parser)
    parser.add_argument("task", help="task name, <package>.<Service>/<Method>")
    parser.add_argument("request", nargs="?", default="{}", help="the request as proto3 JSON")
    parser.add_argument("--id", help="task id (default: a random UUID); a chosen id is claimed first")
    parser.add_argument("--reports", choices=list(LEVELS), default="all")
    parser.add_argument("--delay-ms", type=int, default=0, help="do not start before now + this")
    parser.add_argument("--deadline-in-ms", type=int, help="deadline: now + this (negative: already passed)")
    parser.add_argument("--header", action="append", default=[], help="key=value, repeatable")
    parser.add_argument("--max-attempts", type=int, help="overrides the task's option")
    parser.add_argument("--queue", help="overrides the task's queue")
    parser.add_argument("--request-type", help="full name, for tasks not in proto/")
    parser.add_argument("--response-type", help="full name, for tasks not in proto/")
    parser.add_argument("--wait-ms", type=int, default=30_000, help="give up after this long")
    parser.add_argument("--cancel-on", choices=["sent", "received", "progress"],
                        help="cancel the task when the first report of this status arrives")
    args = parser.parse_args()

    options, method = task_options(args.task)
    if args.max_attempts is not None:
        options.max_attempts = args.max_attempts
    if args.queue:
        options.queue = args.queue
    symbols = symbol_database.Default()
    request_type = symbols.GetSymbol(args.request_type or method.input_type.full_name)
    response_type = symbols.GetSymbol(args.response_type or method.output_type.full_name)
    payload = json_format.Parse(args.request, request_type()).SerializeToString()
    deadline = now_ms() + args.deadline_in_ms if args.deadline_in_ms is not None else 0

    backend, results = backend_from(args)
    caller = Caller(backend)
    try:
        task = caller.send(args.task, payload, options, task_id=args.id, level=LEVELS[args.reports],
                           delay_ms=args.delay_ms, deadline_ms=deadline,
                           headers=dict(h.split("=", 1) for h in args.header))
        for report in caller.reports(task, args.wait_ms / 1000):
            line = {"id": task.id, **as_json(report, response_type)}
            if report.status == Status.STATUS_SENT:
                line.update(notBeforeMs=task.not_before_ms, deadlineMs=task.deadline_ms)
            print(json.dumps(line), flush=True)
            if args.cancel_on is not None and report.status == Status.Value(f"STATUS_{args.cancel_on.upper()}"):
                outcome = caller.cancel(task)
                print(json.dumps({"id": task.id, **as_json(outcome, response_type)}), flush=True)
                break
        return 0
    except TimeoutError as error:
        print(json.dumps({"status": "timeout", "message": str(error)}), flush=True)
        return 2
    finally:
        backend.close()
        if results is not None:
            results.close()


if __name__ == "__main__":
    sys.exit(main())
