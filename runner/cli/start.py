"""`run.py [start]`: start a new run, the default command. Everything it needs is checked against
the stack before anything is deployed, uploaded or started; then it follows the execution and
saves and scores its results."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from components.settings import DEFAULT_STACK
from runner import data as user_data
from runner import execution, results
from runner.cli import cost_gate, exits, parser, stack
from runner.cli.parser import BadArguments, agreeing
from runner.cli.stack import RunChecks, StackSource
from runner.cli.watch import watch_execution
from runner.errors import UsageError
from runner.follow import Polling
from runner.outputs import StackOutputs

if TYPE_CHECKING:
    from runner import plot


def add_parser(commands) -> None:
    sub = parser.add_command(
        commands,
        parser.DEFAULT_COMMAND,
        run,
        prog="run.py",
        help="start a new execution, follow it live, fetch and score its predictions (the default)",
        description="Start an execution of the training pipeline, follow it live, then fetch the "
        "predictions and score them against the held-out labels. Reads the stack "
        "outputs with `pulumi stack output --json` unless --outputs-file is given; "
        "--local runs everything offline on an embedded AWS emulator instead. "
        "`run.py` without a command is `run.py start`.",
    )
    parser.stack_options(sub)
    options = sub.add_argument_group("run options")
    options.add_argument(
        "--local",
        action="store_true",
        help="offline rehearsal: host an AWS emulator in this process, deploy the same "
        "definition there and train with local XGBoost (no AWS account needed)",
    )
    options.add_argument(
        "--name",
        type=parser.execution_name,
        help="execution name (also the SageMaker job and model name): lower-case letters, "
        "digits and hyphens; `--name baseline` is <jobNamePrefix>--baseline (63 characters "
        "at most in all); default <prefix>--<UTC time>-<random>; used once (runs/<name>/)",
    )
    options.add_argument("--rows", type=parser.positive_int, help="training rows (overrides the stack default)")
    options.add_argument(
        "--hp",
        type=parser.hyperparameter,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="XGBoost hyperparameter merged over the stack defaults (repeatable)",
    )
    options.add_argument(
        "--seed",
        type=parser.seed,
        metavar="N",
        help="dataset seed, to repeat a run exactly (default: drawn, printed and recorded)",
    )
    options.add_argument("--input", metavar="JSON", help="raw execution input; --rows, --hp and --seed apply on top")
    options.add_argument(
        "--data",
        metavar="FILE|S3URI",
        help="train on this data instead of the generated sample: a CSV file with a header "
        "row (or Parquet), checked here and uploaded under the run's folder, or "
        "s3://bucket/key (or .../prefix/) inside the stack's dataSources, prepared in AWS",
    )
    options.add_argument("--label", metavar="COLUMN", help="with --data: the label column (default: label)")
    options.add_argument(
        "--test",
        metavar="FILE|S3URI",
        help="with --data: held-out rows to score, same columns (default: a seeded share of --data)",
    )
    options.add_argument(
        "--split",
        type=parser.split,
        metavar="VALIDATION,TEST",
        help="with --data: fractions of its rows for validation and test (default 0.1,0.2; with --test: 0.1,0)",
    )
    options.add_argument(
        "--categorical",
        choices=("auto", "off"),
        help="with --data: text feature columns are encoded (auto, the default: one-hot up to "
        "10 categories, ordinal beyond) or refused (off)",
    )
    options.add_argument(
        "--max-cost",
        type=parser.usd,
        metavar="USD",
        help="refuse the run, before anything starts, when the most it can cost (at list prices) "
        "is above USD; rehearsed with --local at prices recorded in runner/cost.py",
    )
    options.add_argument("--no-progress", action="store_true", help="plain progress lines, even on a terminal")
    options.add_argument(
        "--detach", action="store_true", help="on Ctrl-C leave the execution running instead of stopping it"
    )
    options.add_argument("--keep-data", action="store_true", help="also download the generated dataset")
    options.add_argument(
        "--runs-dir",
        type=parser.runs_dir,
        default=parser.RUNS_DIR,
        metavar="DIR",
        help="where <name>/ with the run's files goes (default runs/ in the project "
        "directory, wherever run.py is started); never overwritten",
    )


def run(args: argparse.Namespace) -> int:
    if args.local and args.detach:
        raise BadArguments("--detach needs a deployed stack: the --local emulator ends with run.py")
    if not args.data:
        given = [
            flag
            for flag, value in (
                ("--label", args.label),
                ("--test", args.test),
                ("--split", args.split),
                ("--categorical", args.categorical),
            )
            if value is not None
        ]
        if given:
            raise BadArguments(f"{agreeing(given, 'only applies', 'only apply')} with --data")
    elif args.rows is not None:
        raise BadArguments("--rows sizes the generated dataset; with --data every row of the data is used")
    return exits.reported(lambda phase: _run(args, phase))


def _run(args: argparse.Namespace, phase: exits.Phase) -> int:
    # Everything a new run needs is checked before any AWS call.
    execution_input = execution.build_input(args.input, args.rows, args.hp, args.seed)
    source = stack.stack_source(args, None if args.data else _generated_rows(execution_input))
    with contextlib.ExitStack() as held:
        checked = held.enter_context(_checked_run(args, execution_input, source))
        if source.announce:  # the first progress line: every refusal of bad input came before it
            print(source.announce, file=sys.stderr, flush=True)
        painter = None
        if args.local:
            from runner import plot

            phase.now = "while starting the local emulator; nothing was started"
            # The plot's process starts now: matplotlib loads while the stack deploys.
            painter = None if plot.loaded() else held.enter_context(plot.Painter())
        outputs, polling = held.enter_context(source.deployed())
        phase.now = "before anything started"
        code = launch(args, outputs, polling, checked, painter)
        if args.local:  # leaving the block shuts the emulator down
            phase.now = "while shutting the local emulator down, after the execution ended or was stopped"
    return code


def _generated_rows(execution_input: dict) -> int | None:
    """The rows a new run generates (0: the stack's default), None when it trains on given data.
    Only a plain positive integer counts: the input is checked in full later, against the stack."""
    if execution_input.get("data") is not None:
        return None
    rows = execution_input.get("rows", 0)
    return rows if type(rows) is int and rows > 0 else 0


@dataclasses.dataclass
class CheckedRun:
    """A new run that passed every check: its name, input, files to upload and claimed runs/<name>/."""

    name: str
    execution_input: dict
    uploads: dict[str, Path]
    run_dir: Path
    started: bool = False


@contextlib.contextmanager
def _checked_run(args: argparse.Namespace, execution_input: dict, source: StackSource) -> Iterator[CheckedRun]:
    """Check a new run against the stack (its name, input and data, as the first state will) and
    claim runs/<name>/, before anything is deployed or started; the folder is given back unless
    the execution starts."""
    checks = source.checks
    name = (
        execution.full_name(args.name, checks.job_name_prefix)
        if args.name
        else execution.new_name(checks.job_name_prefix)
    )
    uploads: dict[str, Path] = {}
    if args.data:
        request = user_data.DataRequest(args.data, args.label, args.test, args.split, args.categorical)
        execution_input["data"], uploads = user_data.execution_data(request, checks.bucket_name, name)
    count_classes = bool(uploads) and execution.needs_num_class(execution_input, checks)
    if count_classes:  # checked with a stand-in, then with the count the file's check found
        execution_input["hyperparameters"] = {**execution_input.get("hyperparameters", {}), "num_class": "2"}
    checked = execution.check_input(execution_input, name, checks)
    found = user_data.Findings()
    if count_classes:
        del execution_input["hyperparameters"]["num_class"], checked["hyperparameters"]["num_class"]
    with user_data.checked_files(
        checked["data"],
        uploads,
        seed=checked["seed"],
        shards=checks.run_defaults.get("shards", 1),
        hyperparameters=checked["hyperparameters"],
        found=found,
    ) as files:
        _say_merge_notes(args, execution_input, checks)  # once every check passed: a refusal stays one line
        if found.hyperparameters:
            execution_input["hyperparameters"].update(found.hyperparameters)
            execution.check_input(execution_input, name, checks)
            print(
                f"run.py: num_class={found.hyperparameters['num_class']}: the classes of label column "
                f"{checked['data']['label']!r} (--hp num_class=N to set it)",
                file=sys.stderr,
            )
        for warning in found.warnings:
            print(f"run.py: warning: {warning}", file=sys.stderr)
        local = args.local or bool(source.outputs and source.outputs.endpoint_url)
        run = CheckedRun(name, execution_input, files, results.claim(args.runs_dir, name, local=local))
        try:
            yield run
        finally:
            if not run.started:
                results.release(run.run_dir)


def _say_merge_notes(args: argparse.Namespace, execution_input: dict, checks: RunChecks) -> None:
    """What merging the run's hyperparameters over the stack's changed (a dropped eval_metric),
    naming the stack file the default came from."""
    from lambda_src.execution_input import merge_hyperparameters, normalise_hyperparameters

    try:
        overrides = normalise_hyperparameters(execution_input.get("hyperparameters", {}))
    except ValueError:
        return  # refused by the input's check, with its own message
    stack_file = f"Pulumi.{args.stack or DEFAULT_STACK}.yaml" if args.local or args.stack else "the stack's settings"
    for note in merge_hyperparameters(checks.run_defaults["hyperparameters"], overrides)[1]:
        print(f"run.py: {note.replace('the stack', stack_file + ': the stack', 1)}", file=sys.stderr)


def launch(
    args: argparse.Namespace, outputs: StackOutputs, polling: Polling, run: CheckedRun, painter: plot.Painter | None
) -> int:
    """Upload the run's data, start its execution and watch it to the end; the upload is removed after."""
    name, execution_input, uploads, run_dir = run.name, run.execution_input, run.uploads, run.run_dir
    clients = None
    created: list[str] = []  # what this run's upload put: all it may delete
    try:
        clients = stack.clients(outputs)
        cost_gate.check(args, clients, outputs)  # before anything is uploaded or started
        for uri, path in uploads.items():
            print(f"uploading {path} ({path.stat().st_size / 1e6:,.1f} MB) to {uri}", file=sys.stderr)
        user_data.upload(clients.s3, uploads, created)
        started = clients.sfn.start_execution(
            stateMachineArn=outputs.state_machine_arn, name=name, input=json.dumps(execution_input)
        )
    except user_data.UploadExists as exists:
        user_data.remove(clients.s3, created)
        raise UsageError(
            f"{exists} already exists: another run named {name} uploaded it (it is starting or "
            "running, or its upload was left); it is left alone: pick another --name or leave "
            "--name out"
        ) from None
    except BaseException:
        if clients is not None:
            user_data.remove(clients.s3, created)
        raise
    run.started = True
    where = (
        f" (local endpoint {outputs.endpoint_url})"
        if outputs.endpoint_url
        else " (local emulator)"
        if args.local
        else f"\n  {outputs.console_url}"
    )
    print(f"started {name}, seed {execution_input['seed']}{where}", file=sys.stderr)
    try:
        return watch_execution(
            args,
            clients,
            outputs,
            started["executionArn"],
            polling,
            run_dir,
            stop_on_interrupt=not args.detach,
            painter=painter,
        )
    finally:
        try:
            user_data.remove_after_end(
                clients.sfn,
                clients.s3,
                started["executionArn"],
                created,
                wait_seconds=0 if args.detach else user_data.STOP_WAIT_SECONDS,
            )
        except (BotoCoreError, ClientError, KeyboardInterrupt) as error:  # never the run's outcome
            for uri in created:
                print(
                    f"run.py: warning: could not delete the upload {uri} after the run "
                    f"({error or 'interrupted'}): aws s3 rm {shlex.quote(uri)}",
                    file=sys.stderr,
                )
