"""Wake the run script's follower the moment an execution ends, instead of at its next poll.

`run.py` follows an execution by polling, as it must on AWS, and waits between polls (0.1 s
growing to 0.3 s locally). The execution of `make local`'s run takes about half a second, so
the last wait was a large share of it. moto's interpreter calls `terminated()` on the execution's
worker communication once the final status is set; here that also wakes every follower's
wait, which then polls at once and sees the end. Waits stay bounded by the poll interval
(SageMaker's secondary status changes show at the next poll, as before).

Patched moto internal: moto/stepfunctions/parser/backend/execution.py,
`BaseExecutionWorkerCommunication.terminated` (called once per execution, by its worker).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication


class ExecutionEnds:
    """Counts ended executions; hands out waits that return when the count moves."""

    def __init__(self) -> None:
        self._ended = 0
        self._changed = threading.Condition()

    def record(self) -> None:
        with self._changed:
            self._ended += 1
            self._changed.notify_all()

    def sleeper(self) -> Callable[[float], None]:
        """A `time.sleep` for one follower that returns early once an execution ends."""
        with self._changed:
            seen = self._ended

        def sleep(seconds: float) -> None:
            nonlocal seen
            with self._changed:
                self._changed.wait_for(lambda: self._ended != seen, seconds)
                seen = self._ended

        return sleep


@contextlib.contextmanager
def installed(ends: ExecutionEnds) -> Iterator[ExecutionEnds]:
    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self) -> None:
        try:
            original(self)
        finally:
            ends.record()

    BaseExecutionWorkerCommunication.terminated = terminated
    try:
        yield ends
    finally:
        BaseExecutionWorkerCommunication.terminated = original
