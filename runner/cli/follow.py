"""`run.py follow ARN`: attach to a running or finished execution of the stack's state machine, then
save and score its results as a run does; Ctrl-C detaches (or stops it, with --stop)."""

from __future__ import annotations

import argparse
import contextlib

from runner.cli import exits, parser, stack
from runner.cli.watch import watch_execution
from runner.errors import UsageError
from runner.outputs import StackOutputs, arn_part


def add_parser(commands) -> None:
    sub = parser.add_command(
        commands,
        "follow",
        run,
        help="attach to a running or finished execution; Ctrl-C detaches",
        hints={"--detach": "follow detaches on Ctrl-C by default; --stop stops"},
        description="Follow an execution until it ends, then save and score its results as a run "
        "does. Ctrl-C detaches and leaves the execution running, unless --stop.",
    )
    sub.add_argument("execution_arn", metavar="ARN")
    sub.add_argument("--stop", action="store_true", help="on Ctrl-C stop the execution instead of detaching")
    sub.add_argument("--no-progress", action="store_true", help="plain progress lines")
    sub.add_argument("--keep-data", action="store_true", help="also download the generated dataset")
    sub.add_argument(
        "--runs-dir",
        type=parser.runs_dir,
        default=parser.RUNS_DIR,
        metavar="DIR",
        help="where <name>/ goes (default runs)",
    )
    parser.stack_options(sub, parser.SERVED_STACK_HELP)


def run(args: argparse.Namespace) -> int:
    return exits.reported(lambda phase: _follow(args, phase))


def _follow(args: argparse.Namespace, phase: exits.Phase) -> int:
    source = stack.served_source(args)
    with contextlib.ExitStack() as held:
        painter = None
        if args.local:
            from runner import plot

            phase.now = "while starting the local emulator; nothing was started"
            painter = None if plot.loaded() else held.enter_context(plot.Painter())
        outputs, polling = held.enter_context(source.deployed())
        phase.now = "before anything started"
        _check_arn(args.execution_arn, outputs)
        code = watch_execution(
            args,
            stack.clients(outputs),
            outputs,
            args.execution_arn,
            polling,
            None,
            stop_on_interrupt=args.stop,
            painter=painter,
        )
        if args.local:
            phase.now = "while shutting the local emulator down, after the execution ended or was stopped"
    return code


def _check_arn(arn: str, outputs: StackOutputs) -> None:
    machine = arn_part(outputs.state_machine_arn, 6)
    if (
        arn_part(arn, 2) != "states"
        or arn_part(arn, 5) != "execution"
        or arn_part(arn, 3) != outputs.region
        or arn_part(arn, 6) != machine
    ):
        raise UsageError(
            f"{arn} is not an execution of this stack's state machine {machine} in "
            f"{outputs.region} (arn:...:states:{outputs.region}:...:execution:{machine}:NAME)"
        )
