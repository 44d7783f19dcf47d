"""Following an execution: its history turned into per-state progress, shown live."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from runner.terminal import shown

_FAILURE_SUFFIXES = ("Failed", "TimedOut", "Aborted")
_SUCCESS_EVENTS = ("TaskSucceeded", "LambdaFunctionSucceeded")
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
# A SageMaker job that has ended while its state has not yet exited is no news to show.
_JOB_ENDED = ("Completed", "Failed", "Stopped")
HISTORY_PAGE = 50


@dataclasses.dataclass
class StateProgress:
    name: str
    entered: datetime
    exited: datetime | None = None
    status: str = "running"
    detail: str = ""  # a SageMaker job's current status, e.g. "Training"
    resource: str = ""  # e.g. "createTrainingJob.sync"
    job_name: str = ""
    parameters: dict = dataclasses.field(default_factory=dict)  # the task's request, as scheduled
    result: Any = None  # the task's own result (for .sync jobs: the Describe response)
    error: str | None = None
    cause: str | None = None
    input: str | None = None  # the state's input, JSON text (kept unparsed: only the last is read)
    changed: datetime | None = None  # time of the last event that changed `status`

    def seconds(self, now: datetime) -> float:
        return ((self.exited or now) - self.entered).total_seconds()


@dataclasses.dataclass
class ExecutionView:
    arn: str
    name: str
    status: str
    started: datetime
    stopped: datetime | None
    states: list[StateProgress]
    output: dict[str, Any] | None = None
    error: str | None = None
    cause: str | None = None
    input: Any = None

    @property
    def failed_state(self) -> StateProgress | None:
        """The state whose error ended the run (a caught task error wins over the Fail state)."""
        with_errors = [state for state in self.states if state.error]
        if with_errors:
            return with_errors[-1]
        failed = [state for state in self.states if state.status == "failed"]
        return failed[-1] if failed else None

    @property
    def data(self) -> dict[str, Any]:
        """The most complete state data known: the output, else the latest state input with run data.

        A failed run has no output, but the failing state's input still carries what the
        states before it added (the effective settings, the dataset's row counts and seed).
        """
        if isinstance(self.output, dict):
            return self.output
        for state in reversed(self.states):
            data = _json(state.input)
            if isinstance(data, dict) and ("run" in data or "dataset" in data):
                return data
        return {}

    def state(self, name: str) -> StateProgress | None:
        return next((state for state in reversed(self.states) if state.name == name), None)


def _details(event: dict) -> dict:
    return next((value for key, value in event.items() if key.endswith("EventDetails")), {})


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return text


def states_from_history(events: list[dict]) -> list[StateProgress]:
    states: list[StateProgress] = []
    for event in events:
        kind, details = event["type"], _details(event)
        current = states[-1] if states else None
        if kind.endswith("StateEntered"):
            state = StateProgress(
                name=details["name"], entered=event["timestamp"], input=details.get("input"), changed=event["timestamp"]
            )
            if kind == "FailStateEntered":
                state.status, state.exited = "failed", event["timestamp"]
            states.append(state)
        elif kind.endswith("StateExited") and current:
            current.exited = current.changed = event["timestamp"]
            current.status = "failed" if current.error else "succeeded"
        elif kind == "TaskScheduled" and current:
            current.resource = details.get("resource", "")
            current.parameters = _json(details.get("parameters")) or {}
            current.job_name = (
                current.parameters.get("TrainingJobName") or current.parameters.get("TransformJobName") or ""
            )
        elif kind in _SUCCESS_EVENTS and current:
            current.error = current.cause = None  # a retry succeeded
            current.result = _json(details.get("output"))
            if current.status == "retrying":
                current.status, current.changed = "running", event["timestamp"]
        elif kind.endswith(_FAILURE_SUFFIXES) and not kind.startswith("Execution") and current:
            current.error, current.cause = details.get("error"), details.get("cause")
            current.result = _json(details.get("cause"))
            if current.exited is None:
                current.status, current.changed = "retrying", event["timestamp"]
    return states


def job_status(sagemaker, state: StateProgress) -> str:
    """The running SageMaker job's own status, as the console shows it."""
    if not state.job_name:
        return ""
    try:
        if state.resource.startswith("createTrainingJob"):
            job = sagemaker.describe_training_job(TrainingJobName=state.job_name)
            status = job.get("SecondaryStatus") or job.get("TrainingJobStatus", "")
        elif state.resource.startswith("createTransformJob"):
            status = sagemaker.describe_transform_job(TransformJobName=state.job_name)["TransformJobStatus"]
        else:
            return ""
    except sagemaker.exceptions.ClientError:
        return "Pending"  # the job is not created yet
    return "" if status in _JOB_ENDED else status


TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
# An evaluation line of the XGBoost container: "[12]\ttrain-rmse:0.41\tvalidation-rmse:0.43".
_ROUND_LINE = re.compile(r"\[(\d+)\]\s+(\S.*)")
LOG_EVENTS_READ = 20  # the newest events of the stream, read per look


class TrainingLog:
    """The round a training job is at and its latest evaluation line, from the job's CloudWatch
    Logs stream (what SageMaker's console shows), read at most once per `every` seconds.

    With the run.py user's own credentials (logs:DescribeLogStreams and logs:GetLogEvents on
    /aws/sagemaker/TrainingJobs); refused or failing, it says so once and reads no more."""

    def __init__(self, logs, every: float, clock: Callable[[], float] = time.monotonic):
        self.logs, self.every, self.clock = logs, every, clock
        self.read_at: dict[str, float] = {}
        self.progress: dict[str, str] = {}
        self.problem: str | None = None

    def progress_of(self, state: StateProgress) -> str:
        """'round 12/5000  train-rmse:0.41 validation-rmse:0.43' for a running training state."""
        job = state.job_name
        if self.logs is None or not job or not state.resource.startswith("createTrainingJob"):
            return ""
        if self.problem:
            return self.problem
        now = self.clock()
        if now - self.read_at.get(job, -math.inf) >= self.every:
            self.read_at[job] = now
            try:
                line = self._latest_round(job)
            except Exception as error:  # never the run's outcome: the table goes on without it
                code = getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__
                self.problem = f"(training log not readable: {code})"
                return self.problem
            if line is not None:
                number, metrics = line
                rounds = (state.parameters.get("HyperParameters") or {}).get("num_round")
                of = f"/{rounds}" if isinstance(rounds, str) and rounds.isdigit() else ""
                self.progress[job] = f"round {number + 1}{of}  {' '.join(metrics.split())}"
        return self.progress.get(job, "")

    def _latest_round(self, job: str) -> tuple[int, str] | None:
        streams = self.logs.describe_log_streams(
            logGroupName=TRAINING_LOG_GROUP, logStreamNamePrefix=f"{job}/", limit=50
        ).get("logStreams", [])
        if not streams:
            return None
        newest = max(streams, key=lambda stream: (stream.get("creationTime", 0), stream["logStreamName"]))
        events = self.logs.get_log_events(
            logGroupName=TRAINING_LOG_GROUP,
            logStreamName=newest["logStreamName"],
            startFromHead=False,
            limit=LOG_EVENTS_READ,
        ).get("events", [])
        for event in reversed(events):
            found = _ROUND_LINE.fullmatch(str(event.get("message", "")).replace("#011", "\t").strip())
            if found:
                return int(found[1]), found[2]
        return None


class History:
    """An execution's events, fetched incrementally: newest first, until a known event.

    A long run's history is fetched whole once at most; each poll after that costs one small
    page. (An emulator that ignores reverseOrder returns everything: the ids sort it out.)
    """

    def __init__(self, sfn, execution_arn: str):
        self.sfn, self.arn = sfn, execution_arn
        self.events: dict[int, dict] = {}
        self.calls = 0

    def refresh(self) -> bool:
        """Fetch the new events; True if there were any."""
        known = max(self.events, default=0)
        new: dict[int, dict] = {}
        token = None
        while True:
            request = dict(executionArn=self.arn, includeExecutionData=True, reverseOrder=True, maxResults=HISTORY_PAGE)
            if token:
                request["nextToken"] = token
            page = self.sfn.get_execution_history(**request)
            self.calls += 1
            ids = [event["id"] for event in page["events"]]
            new.update((event["id"], event) for event in page["events"] if event["id"] > known)
            token = page.get("nextToken")
            if not token or (ids and min(ids) <= known + 1):
                break
        self.events.update(new)
        return bool(new)

    def ordered(self) -> list[dict]:
        return [self.events[key] for key in sorted(self.events)]


def snapshot(
    sfn, sagemaker, execution_arn: str, history: History | None = None, training_log: TrainingLog | None = None
) -> ExecutionView:
    description = sfn.describe_execution(executionArn=execution_arn)
    history = history or History(sfn, execution_arn)
    history.refresh()
    view = ExecutionView(
        arn=execution_arn,
        name=description["name"],
        status=description["status"],
        started=description["startDate"],
        stopped=description.get("stopDate"),
        states=states_from_history(history.ordered()),
        output=_json(description.get("output")),
        error=description.get("error"),
        cause=description.get("cause"),
        input=_json(description.get("input")),
    )
    for state in view.states:
        if state.exited is None and view.status == "RUNNING":
            state.detail = job_status(sagemaker, state)
            if training_log is not None and state.detail == "Training":
                state.detail = f"{state.detail}  {training_log.progress_of(state)}".rstrip()
    return view


class Display(Protocol):
    def update(self, view: ExecutionView) -> None: ...
    def close(self) -> None: ...


class PlainDisplay:
    """One line per change, for logs and pipes; times are seconds since the execution started."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.seen: dict[str, tuple[str, str]] = {}
        self.last = 0.0

    def update(self, view: ExecutionView) -> None:
        now = datetime.now(UTC)
        for state in view.states:
            key = (state.status, state.detail)
            if self.seen.get(state.name) == key:
                continue
            status_changed = self.seen.get(state.name, ("", ""))[0] != state.status
            self.seen[state.name] = key
            # A status change happened at its event's time; a job's own status was seen now.
            moment = (state.changed or state.entered) if status_changed else now
            # The emulator's clock and ours can differ by a hair: never print time going back.
            self.last = max(self.last, (moment - view.started).total_seconds())
            detail = f"  {shown(state.detail)}" if state.detail else ""
            print(f"[{self.last:7.1f}s] {shown(state.name)}: {state.status}{detail}", file=self.stream, flush=True)

    def close(self) -> None:
        pass


class LiveDisplay:
    """A table redrawn in place on a terminal."""

    def __init__(self, stream=sys.stderr):
        from rich.console import Console
        from rich.live import Live

        self.live = Live(console=Console(file=stream), refresh_per_second=4, transient=False)
        self.live.start()

    def update(self, view: ExecutionView) -> None:
        from rich.markup import escape
        from rich.table import Table

        def text(value) -> str:  # remote text: escaped for the terminal, then for rich's markup
            return escape(shown(value))

        now = datetime.now(UTC)
        table = Table(title=f"{text(view.name)}  {text(view.status)}", title_justify="left")
        for column in ("State", "Status", "Time", "Detail"):
            table.add_column(column, justify="right" if column == "Time" else "left")
        colours = {"succeeded": "green", "failed": "red", "running": "yellow", "retrying": "yellow"}
        for state in view.states:
            colour = colours.get(state.status, "white")
            table.add_row(
                text(state.name),
                f"[{colour}]{state.status}[/]",
                f"{state.seconds(now):.1f}s",
                text(state.detail or (state.error or "")),
            )
        self.live.update(table)

    def close(self) -> None:
        self.live.stop()


class Interrupted(KeyboardInterrupt):
    """Ctrl-C while following; `view` is the last one seen (None before the first)."""

    def __init__(self, view: ExecutionView | None):
        super().__init__()
        self.view = view


@dataclasses.dataclass(frozen=True)
class Polling:
    """How `follow` waits: `interval` between polls, growing up to `max_interval` while nothing
    changes; `sleep` may return early when the backend knows the execution ended (locally)."""

    interval: float
    max_interval: float
    sleep: Callable[[float], None] = time.sleep
    log_every: float = 10.0  # the training log is read at most this often (seconds)
    logs: Any = None  # a CloudWatch Logs client: a training state shows its round, from the job's log


def follow(sfn, sagemaker, execution_arn: str, display: Display, polling: Polling) -> ExecutionView:
    """Poll until the execution ends, updating `display`; returns the final view.

    The wait between polls starts at `polling.interval` and grows (up to `max_interval`) while
    nothing changes, so a long training job costs few calls; any change resets it.
    """
    history = History(sfn, execution_arn)
    training_log = TrainingLog(polling.logs, polling.log_every) if polling.logs is not None else None
    interval = polling.interval
    max_interval = max(interval, polling.max_interval)
    wait, last, view = interval, None, None
    try:
        while True:
            view = snapshot(sfn, sagemaker, execution_arn, history, training_log)
            display.update(view)
            if view.status in TERMINAL:
                return view
            seen = (len(history.events), tuple(state.detail for state in view.states))
            wait = interval if seen != last else min(max_interval, wait * 1.5)
            last = seen
            polling.sleep(wait)
    except KeyboardInterrupt:
        raise Interrupted(view) from None
