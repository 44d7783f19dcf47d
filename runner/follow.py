"""Following an execution: its history turned into per-state progress, shown live."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from datetime import datetime, timezone
from typing import Any, Protocol

_FAILURE_SUFFIXES = ("Failed", "TimedOut", "Aborted")
_SUCCESS_EVENTS = ("TaskSucceeded", "LambdaFunctionSucceeded")
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclasses.dataclass
class StateProgress:
    name: str
    entered: datetime
    exited: datetime | None = None
    status: str = "running"
    detail: str = ""       # a SageMaker job's current status, e.g. "Training"
    resource: str = ""     # e.g. "createTrainingJob.sync"
    job_name: str = ""
    error: str | None = None
    cause: str | None = None

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

    @property
    def failed_state(self) -> StateProgress | None:
        """The state whose error ended the run (a caught task error wins over the Fail state)."""
        with_errors = [state for state in self.states if state.error]
        if with_errors:
            return with_errors[-1]
        failed = [state for state in self.states if state.status == "failed"]
        return failed[-1] if failed else None


def _details(event: dict) -> dict:
    return next((value for key, value in event.items() if key.endswith("EventDetails")), {})


def states_from_history(events: list[dict]) -> list[StateProgress]:
    states: list[StateProgress] = []
    for event in events:
        kind, details = event["type"], _details(event)
        current = states[-1] if states else None
        if kind.endswith("StateEntered"):
            state = StateProgress(name=details["name"], entered=event["timestamp"])
            if kind == "FailStateEntered":
                state.status, state.exited = "failed", event["timestamp"]
            states.append(state)
        elif kind.endswith("StateExited") and current:
            current.exited = event["timestamp"]
            current.status = "failed" if current.error else "succeeded"
        elif kind == "TaskScheduled" and current:
            current.resource = details.get("resource", "")
            parameters = json.loads(details.get("parameters") or "{}")
            current.job_name = parameters.get("TrainingJobName") or parameters.get("TransformJobName") or ""
        elif kind in _SUCCESS_EVENTS and current:
            current.error = current.cause = None  # a retry succeeded
        elif kind.endswith(_FAILURE_SUFFIXES) and not kind.startswith("Execution") and current:
            current.error, current.cause = details.get("error"), details.get("cause")
            if current.exited is None:
                current.status = "retrying"
    return states


def job_status(sagemaker, state: StateProgress) -> str:
    """The running SageMaker job's own status, as the console shows it."""
    if not state.job_name:
        return ""
    try:
        if state.resource.startswith("createTrainingJob"):
            job = sagemaker.describe_training_job(TrainingJobName=state.job_name)
            return job.get("SecondaryStatus") or job.get("TrainingJobStatus", "")
        if state.resource.startswith("createTransformJob"):
            return sagemaker.describe_transform_job(TransformJobName=state.job_name)["TransformJobStatus"]
    except sagemaker.exceptions.ClientError:
        return "Pending"  # the job is not created yet
    return ""


def snapshot(sfn, sagemaker, execution_arn: str) -> ExecutionView:
    description = sfn.describe_execution(executionArn=execution_arn)
    events = [event for page in sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution_arn, includeExecutionData=True) for event in page["events"]]
    view = ExecutionView(
        arn=execution_arn, name=description["name"], status=description["status"],
        started=description["startDate"], stopped=description.get("stopDate"),
        states=states_from_history(events),
        output=json.loads(description["output"]) if description.get("output") else None,
        error=description.get("error"), cause=description.get("cause"))
    for state in view.states:
        if state.exited is None and view.status == "RUNNING":
            state.detail = job_status(sagemaker, state)
    return view


class Display(Protocol):
    def update(self, view: ExecutionView) -> None: ...
    def close(self) -> None: ...


class PlainDisplay:
    """One line per change, for logs and pipes."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.seen: dict[str, tuple[str, str]] = {}

    def update(self, view: ExecutionView) -> None:
        now = datetime.now(timezone.utc)
        for state in view.states:
            key = (state.status, state.detail)
            if self.seen.get(state.name) != key:
                self.seen[state.name] = key
                elapsed = ((state.exited or now) - view.started).total_seconds()
                detail = f"  {state.detail}" if state.detail else ""
                print(f"[{elapsed:7.1f}s] {state.name}: {state.status}{detail}", file=self.stream, flush=True)

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
        from rich.table import Table

        now = datetime.now(timezone.utc)
        table = Table(title=f"{view.name}  {view.status}", title_justify="left")
        for column in ("State", "Status", "Time", "Detail"):
            table.add_column(column, justify="right" if column == "Time" else "left")
        colours = {"succeeded": "green", "failed": "red", "running": "yellow", "retrying": "yellow"}
        for state in view.states:
            colour = colours.get(state.status, "white")
            table.add_row(state.name, f"[{colour}]{state.status}[/]", f"{state.seconds(now):.1f}s",
                          state.detail or (state.error or ""))
        self.live.update(table)

    def close(self) -> None:
        self.live.stop()


def follow(sfn, sagemaker, execution_arn: str, display: Display, interval: float) -> ExecutionView:
    """Poll until the execution ends, updating `display`; returns the final view."""
    while True:
        view = snapshot(sfn, sagemaker, execution_arn)
        display.update(view)
        if view.status in TERMINAL:
            return view
        time.sleep(interval)
