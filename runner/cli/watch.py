"""Following an execution to its end, for start and follow: the live display, Ctrl-C (stop or
detach), then its results saved in runs/<name>/ and reported."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from components import PROJECT_DIR
from components.settings import DEFAULT_STACK
from runner import data as user_data
from runner import results
from runner.cli import parser
from runner.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED
from runner.cli.report import report
from runner.cli.stack import Clients
from runner.errors import UsageError
from runner.follow import LiveDisplay, PlainDisplay, Polling, follow
from runner.outputs import StackOutputs, arn_part
from runner.terminal import shown

if TYPE_CHECKING:
    from runner import plot


def _display(args: argparse.Namespace):
    if args.json or args.no_progress or not sys.stderr.isatty():
        return PlainDisplay(sys.stderr)
    return LiveDisplay(sys.stderr)


def _where(args: argparse.Namespace, outputs: StackOutputs) -> dict:
    """Where the run ran, for its record."""
    stack = {"stack": args.stack or (DEFAULT_STACK if args.local else None)}
    stack["stack_file"] = f"Pulumi.{stack['stack']}.yaml" if stack["stack"] else None
    if getattr(args, "data", None) and not user_data.is_s3(args.data):  # the file's own name, for the workbench
        stack["data_file"] = args.data
    if outputs.endpoint_url:
        return {
            "local": True,
            "region": outputs.region,
            **stack,
            "emulator": f"moto, served by run.py serve on {outputs.endpoint_url}",
        }
    if args.local:
        from importlib import metadata

        return {
            "local": True,
            "region": outputs.region,
            **stack,
            "emulator": f"moto {metadata.version('moto')}, in the run.py process",
        }
    return {
        "local": False,
        **stack,
        "partition": arn_part(outputs.state_machine_arn, 1),
        "account": arn_part(outputs.state_machine_arn, 4),
        "region": outputs.region,
        "state_machine_arn": outputs.state_machine_arn,
    }


def _cost(args: argparse.Namespace, clients: Clients, outputs: StackOutputs):
    """The run's `cost` record, for results.collect."""
    from runner import cost

    local = args.local or bool(outputs.endpoint_url)
    prices = None if local else cost.PriceList()
    return lambda view, summary: cost.execution_cost(
        view,
        summary,
        region=outputs.region,
        bytes_kept=cost.stored_bytes(clients.s3, outputs.bucket_name, view.name),
        prices=prices,
        local=local,
        sagemaker=clients.sagemaker,
    )


def follow_command(args: argparse.Namespace, arn: str) -> str:
    """The command that follows `arn` again, with this interpreter and the same stack options."""
    interpreter = Path(sys.executable or "python3")
    script = PROJECT_DIR / "run.py"
    try:
        interpreter_text = os.path.relpath(interpreter) if interpreter.is_relative_to(Path.cwd()) else str(interpreter)
    except ValueError:
        interpreter_text = str(interpreter)
    script_text = os.path.relpath(script) if script.is_relative_to(Path.cwd()) else str(script)
    words = [interpreter_text, script_text, "follow", arn]
    if args.stack:
        words += ["--stack", args.stack]
    if args.outputs_file:
        words += ["--outputs-file", args.outputs_file]
    if args.runs_dir != parser.RUNS_DIR:
        words += ["--runs-dir", str(args.runs_dir)]
    return shlex.join(words)


def watch_execution(
    args: argparse.Namespace,
    clients: Clients,
    outputs: StackOutputs,
    arn: str,
    polling: Polling,
    run_dir: Path | None,
    stop_on_interrupt: bool,
    painter: plot.Painter | None,
) -> int:
    """Follow `arn` to its end, then save its results in `run_dir` (None: claimed now, for follow) and
    report them; Ctrl-C stops the execution (`stop_on_interrupt`) or detaches."""
    display = _display(args)
    interrupted = None
    try:
        view = follow(
            clients.sfn,
            clients.sagemaker,
            arn,
            display,
            dataclasses.replace(polling, logs=getattr(clients, "logs", None)),
        )
    except KeyboardInterrupt as error:
        interrupted, view = error, None
    finally:
        display.close()
    if interrupted is not None:  # Ctrl-C
        results.release(run_dir)
        return _interrupted(args, clients, outputs, arn, getattr(interrupted, "view", None), stop_on_interrupt)
    not_saved = None
    if run_dir is None:  # `follow`: the folder is claimed now that there is something to keep
        try:
            run_dir = results.claim(args.runs_dir, view.name, local=False, recover=True)
        except UsageError as error:
            not_saved = str(error)
    try:
        summary = results.collect(
            clients.s3,
            view,
            _where(args, outputs),
            run_dir,
            args.keep_data,
            not_saved=not_saved,
            painter=painter,
            iam_report=outputs.iam_report and functools.partial(outputs.iam_report, arn),
            cost=_cost(args, clients, outputs),
        )
    except KeyboardInterrupt:
        results.release(run_dir)
        print(
            f"interrupted while saving the results of {shown(view.name)} ({shown(view.status)}); nothing was kept",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    report(summary, outputs, args.json)
    if summary["results_error"]:
        print(f"run.py: error: {shown(summary['results_error'])}", file=sys.stderr)
    return 0 if view.status == "SUCCEEDED" and not summary["results_error"] else EXIT_FAILED


def _interrupted(args: argparse.Namespace, clients: Clients, outputs: StackOutputs, arn: str, last, stop: bool) -> int:
    """Ctrl-C while following: stop the execution or detach, and say so for the state it was in.
    The run is named by its execution name (the ARN's last part), not the whole ARN."""
    name = arn.rsplit(":", 1)[-1]
    running = [state.name for state in last.states if state.exited is None] if last else []
    in_state = f" in state '{shown(running[-1])}'" if running else (" before its first state" if last else "")
    job = next(
        (
            kind
            for word, kind in (("train", "training"), ("transform", "transform"))
            if running and word in running[-1].lower()
        ),
        None,
    )
    if last is not None and last.status != "RUNNING":
        print(
            f"interrupted after {name} had ended ({shown(last.status)}); its results were not saved: "
            f"fetch them with:\n  {follow_command(args, arn)}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if not stop:
        print(
            f"detached from {name}{in_state}; the execution goes on. Follow it again with:\n"
            f"  {follow_command(args, arn)}",
            file=sys.stderr,
        )
        return 0
    try:
        clients.sfn.stop_execution(executionArn=arn, error="Interrupted", cause="stopped by run.py (Ctrl-C)")
    except ClientError as error:
        print(
            f"could not stop {name}{in_state}: {shown(error)}; stop it with: "
            f"{follow_command(args, arn).replace(' follow ' + arn, ' stop')}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    then = f"; its SageMaker {job} job is stopped too (billed until it has stopped)" if job else ""
    if args.local and not outputs.endpoint_url:
        then += "; shutting the local emulator down (a SageMaker job step in progress ends first)"
    print(f"stopped {name}{in_state}{then}", file=sys.stderr)
    return EXIT_INTERRUPTED
