"""The dingo.v1 envelope rules of docs/WIRE.md that do not depend on a broker.

Sections of WIRE.md are named in the docstrings: task keys ("Names, ids and keys"),
report levels ("ReportLevel"), codes ("Failure and codes"), the backoff formula and
the retry rule ("Attempts, retries and backoff").
"""

import math
import os
import random
import secrets
import socket
import time

from protos import pb

Task = pb.envelope.Task
Report = pb.envelope.Report
Failure = pb.envelope.Failure
FailureDetail = pb.envelope.FailureDetail
Progress = pb.envelope.Progress
RetryPolicy = pb.envelope.RetryPolicy
Status = pb.envelope.Status
Code = pb.envelope.Code
ReportLevel = pb.envelope.ReportLevel

FINAL_STATUSES = {Status.STATUS_SUCCESS, Status.STATUS_FAILURE, Status.STATUS_CANCELLED}

# "Failure and codes": the codes whose failures are retryable when a handler does not say.
DEFAULT_RETRYABLE = {
    Code.CODE_UNKNOWN,
    Code.CODE_DEADLINE_EXCEEDED,
    Code.CODE_RESOURCE_EXHAUSTED,
    Code.CODE_ABORTED,
    Code.CODE_INTERNAL,
    Code.CODE_UNAVAILABLE,
}


def now_ms() -> int:
    """Unix epoch milliseconds: every time on the wire is one."""
    return int(time.time() * 1000)


def task_key(name: str, task_id: str) -> str:
    """`<task name>/<task id>`: what identifies a task (ids are unique per name only)."""
    return f"{name}/{task_id}"


def new_worker_id() -> str:
    """`<hostname>-<pid>-<8 random hex digits>`, as the reference worker makes it."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def code_number(code) -> int:
    """A code by name (`"not_found"`, `"CODE_NOT_FOUND"`) or number; unknown numbers read as UNKNOWN."""
    if isinstance(code, str):
        name = code.upper()
        return Code.Value(name if name.startswith("CODE_") else f"CODE_{name}")
    return code if code in Code.values() and code != Code.CODE_UNSPECIFIED else Code.CODE_UNKNOWN


def code_text(code: int) -> str:
    """The lower-case snake-case name of a code (`not_found`): dead-letter reasons use it."""
    return Code.Name(code_number(code))[len("CODE_"):].lower()


class TaskError(Exception):
    """What a handler raises to fail its attempt with a code (retryable by default per code)."""

    def __init__(self, code, message: str, retryable: bool | None = None, details=()):
        super().__init__(message)
        self.code = code_number(code)
        self.message = message
        self.retryable = self.code in DEFAULT_RETRYABLE if retryable is None else retryable
        self.details = list(details)

    def to_failure(self) -> Failure:
        return Failure(code=self.code, message=self.message, retryable=self.retryable, details=self.details)

    @staticmethod
    def from_failure(failure: Failure) -> "TaskError":
        return TaskError(failure.code, failure.message, failure.retryable, failure.details)


def failure_of(error: BaseException) -> Failure:
    """A handler's exception as a Failure: anything that is not a TaskError is UNKNOWN, retryable."""
    if isinstance(error, TaskError):
        return error.to_failure()
    return Failure(code=Code.CODE_UNKNOWN, message=str(error) or type(error).__name__, retryable=True)


def wants(level: int, status: int) -> bool:
    """Whether a task's report level asks for reports of `status` ("ReportLevel").

    Levels this code does not know are read like REPORT_LEVEL_ALL.
    """
    if level == ReportLevel.REPORT_LEVEL_NONE:
        return False
    if status in FINAL_STATUSES:
        return True
    if level == ReportLevel.REPORT_LEVEL_FINAL:
        return False
    if level == ReportLevel.REPORT_LEVEL_NO_PROGRESS:
        return status != Status.STATUS_PROGRESS
    return True


def attempts_of(task: Task) -> int:
    """Total attempts: max(1, retry.max_attempts), or 1 without a retry policy."""
    return max(1, task.retry.max_attempts) if task.HasField("retry") else 1


def backoff_ms(policy: RetryPolicy, attempt: int, r: float | None = None) -> int:
    """The wait after failed attempt `attempt` (1-based), exactly as WIRE.md gives the formula."""
    m = policy.multiplier if policy.multiplier > 0 else 2
    grown = policy.initial_backoff_ms * m ** max(0, attempt - 1)
    capped = min(policy.max_backoff_ms, grown) if policy.max_backoff_ms > 0 else grown
    j = min(1.0, max(0.0, policy.jitter))
    r = random.random() if r is None else r
    return math.floor(capped * (1 - j * r) + 0.5)  # round half up, like JavaScript's Math.round


def next_attempt(task: Task, failure: Failure, now: int) -> Task | None:
    """The next attempt's Task if the retry rules allow one after `failure`, else None."""
    if not failure.retryable or task.attempt >= attempts_of(task):
        return None
    at = now + backoff_ms(task.retry, task.attempt)
    if task.deadline_ms > 0 and at >= task.deadline_ms:
        return None
    retry = Task()
    retry.CopyFrom(task)
    retry.attempt = task.attempt + 1
    retry.not_before_ms = at
    return retry


def report(task: Task, status: int, worker_id: str, **fields) -> Report:
    """A worker's report on `task`: task_id, name and attempt copied, at_ms = now."""
    return Report(
        task_id=task.id,
        name=task.name,
        status=status,
        attempt=task.attempt,
        worker_id=worker_id,
        at_ms=now_ms(),
        **fields,
    )
