"""run.py: start a training run from the stack outputs, follow it live, fetch and score the predictions.

The same code drives AWS and the offline rehearsal (--local); only where the clients point differs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from components.definition import TAG_EXECUTION
from lambda_src.execution_input import NAME_SEPARATOR
from runner import execution, results
from runner.follow import LiveDisplay, PlainDisplay, follow
from runner.outputs import StackOutputs, UsageError, load_outputs

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
AWS_POLL_SECONDS, LOCAL_POLL_SECONDS = 5.0, 0.1
# Throttling is retried by botocore itself, with client-side rate limiting.
_RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 10})


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _list_size(text: str) -> int:
    value = _positive_int(text)
    if value > 1000:  # ListExecutions' maxResults limit
        raise argparse.ArgumentTypeError(f"{text!r} is more than 1000")
    return value


def _execution_name(text: str) -> str:
    try:
        return execution.check_name(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _hyperparameter(text: str) -> tuple[str, str]:
    try:
        return execution.parse_hyperparameter(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _source_options(parser: argparse.ArgumentParser, default=None) -> None:
    group = parser.add_argument_group("where the stack is")
    group.add_argument("--stack", default=default, metavar="NAME",
                       help="Pulumi stack to read outputs from (default: the selected stack; "
                            "with --local: the stack file whose settings to use, default dev)")
    group.add_argument("--outputs-file", default=default, metavar="FILE",
                       help="read outputs from FILE (`pulumi stack output --json`), - for stdin")
    group.add_argument("--json", action="store_true", default=default,
                       help="print exactly one JSON object on stdout and nothing else there")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="Start an execution of the training pipeline, follow it live, then fetch the "
                    "predictions and score them against the held-out labels. Reads the stack "
                    "outputs with `pulumi stack output --json` unless --outputs-file is given; "
                    "--local runs everything offline on an embedded AWS emulator instead.",
        epilog="exit codes: 0 success, 1 the execution failed, 2 usage error, 130 interrupted")
    _source_options(parser)
    run = parser.add_argument_group("run options")
    run.add_argument("--local", action="store_true",
                     help="offline rehearsal: host an AWS emulator in this process, deploy the same "
                          "definition there and train with local XGBoost (no AWS account needed)")
    run.add_argument("--name", type=_execution_name,
                     help="execution name (also the SageMaker job and model name): 1-63 letters, "
                          "digits and hyphens starting with the stack's jobNamePrefix; default "
                          "<prefix>-<UTC time>-<random>")
    run.add_argument("--rows", type=_positive_int, help="training rows (overrides the stack default)")
    run.add_argument("--hp", type=_hyperparameter, action="append", default=[], metavar="KEY=VALUE",
                     help="XGBoost hyperparameter merged over the stack defaults (repeatable)")
    run.add_argument("--input", metavar="JSON", help="raw execution input; --rows and --hp apply on top")
    run.add_argument("--no-progress", action="store_true", help="plain progress lines, even on a terminal")
    run.add_argument("--detach", action="store_true",
                     help="on Ctrl-C leave the execution running instead of stopping it")
    run.add_argument("--keep-data", action="store_true", help="also download the generated dataset")
    run.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where runs/<name>/ goes")

    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     description="without a command, run.py starts a new execution")
    attach = commands.add_parser("follow", help="attach to a running or finished execution",
                                 argument_default=argparse.SUPPRESS)
    attach.add_argument("execution_arn", metavar="ARN")
    attach.add_argument("--detach", action="store_true", default=argparse.SUPPRESS,
                        help="on Ctrl-C leave the execution running instead of stopping it")
    listing = commands.add_parser("list", help="recent executions of this state machine",
                                  argument_default=argparse.SUPPRESS)
    listing.add_argument("--max", type=_list_size, default=20, metavar="N",
                         help="how many, 1-1000 (default 20)")
    cleanup = commands.add_parser("cleanup", help="delete the SageMaker models this stack's runs created",
                                  argument_default=argparse.SUPPRESS)
    cleanup.add_argument("--dry-run", action="store_true", default=False, help="only list them")
    stop = commands.add_parser("stop", help="stop this stack's running executions (pulumi destroy "
                                            "cannot delete the state machine while they run)",
                               argument_default=argparse.SUPPRESS)
    stop.add_argument("--dry-run", action="store_true", default=False, help="only list them")
    for sub in (attach, listing, cleanup, stop):
        _source_options(sub, default=argparse.SUPPRESS)
        sub.add_argument("--no-progress", action="store_true", default=argparse.SUPPRESS)
        sub.add_argument("--runs-dir", type=Path, default=argparse.SUPPRESS)
    return parser


class Clients:
    def __init__(self, region: str):
        # boto3's default session: with --local, the emulator already loaded these service models there.
        self.sfn = boto3.client("stepfunctions", region_name=region, config=_RETRIES)
        self.sagemaker = boto3.client("sagemaker", region_name=region, config=_RETRIES)
        self.s3 = boto3.client("s3", region_name=region, config=_RETRIES)


@contextlib.contextmanager
def stack_outputs(args) -> Iterator[tuple[StackOutputs, float]]:
    """The outputs to use and the poll interval: a deployed stack's, or a local emulator's."""
    if not args.local:
        yield load_outputs(args.stack, args.outputs_file), AWS_POLL_SECONDS
        return
    if args.outputs_file:
        raise UsageError("--local deploys its own emulator: drop --outputs-file")
    from components.settings import SettingsError, load_stack_settings
    from runner.local import local_stack

    try:
        settings = load_stack_settings(args.stack or "dev")
    except SettingsError as error:
        raise UsageError(f"Pulumi.{args.stack or 'dev'}.yaml: {error}") from None
    with local_stack(settings) as outputs:
        yield StackOutputs.from_dict(outputs, "the local emulator"), LOCAL_POLL_SECONDS


def _display(args):
    if args.json or args.no_progress or not sys.stderr.isatty():
        return PlainDisplay(sys.stderr)
    return LiveDisplay(sys.stderr)


def _report(summary: dict, outputs: StackOutputs, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary))
        return
    if summary["status"] == "SUCCEEDED":
        scores = summary["metrics"]
        rows = summary["rows"] or {}
        print(f"{summary['execution_name']} SUCCEEDED: {rows.get('train')} training rows, "
              f"{rows.get('test')} held-out rows")
        print("  accuracy {accuracy:.4f}   auc {auc:.4f}   rmse {rmse:.4f}   logloss {logloss:.4f}".format(**scores))
        print(f"  predictions, model and summary.json in {summary['artifacts_dir']}/")
        return
    print(f"{summary['execution_name']} {summary['status']}"
          + (f" in state '{summary['failed_state']}'" if summary["failed_state"] else ""))
    print(f"  error: {summary['error']}")
    print(f"  cause: {summary['cause']}")
    console = urlparse(outputs.console_url)
    if console.scheme == "https":  # the local emulator has no console
        print(f"  console: https://{console.netloc}/states/home?region={outputs.region}"
              f"#/v2/executions/details/{summary['execution_arn']}")


def _watch(args, clients: Clients, outputs: StackOutputs, arn: str, interval: float) -> int:
    display = _display(args)
    try:
        view = follow(clients.sfn, clients.sagemaker, arn, display, interval)
    except KeyboardInterrupt:
        view = None
    finally:
        display.close()
    if view is None:  # Ctrl-C
        if args.detach:
            print(f"detached; the execution goes on. Follow it again with:\n  python run.py follow {arn}",
                  file=sys.stderr)
            return 0
        clients.sfn.stop_execution(executionArn=arn, error="Interrupted", cause="stopped by run.py (Ctrl-C)")
        print(f"stopped execution {arn}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if view.status == "SUCCEEDED":
        summary = results.collect(clients.s3, view, args.runs_dir, args.keep_data)
    else:
        summary = results.summary_of(view)
    _report(summary, outputs, args.json)
    return 0 if view.status == "SUCCEEDED" else EXIT_FAILED


def _start(args, clients: Clients, outputs: StackOutputs, interval: float,
           name: str, execution_input: dict) -> int:
    started = clients.sfn.start_execution(stateMachineArn=outputs.state_machine_arn, name=name,
                                          input=json.dumps(execution_input))
    print(f"started {name}" + (" (local emulator)" if args.local else f"\n  {outputs.console_url}"),
          file=sys.stderr)
    return _watch(args, clients, outputs, started["executionArn"], interval)


def _list(args, clients: Clients, outputs: StackOutputs) -> int:
    page = clients.sfn.list_executions(stateMachineArn=outputs.state_machine_arn, maxResults=args.max)
    rows = []
    for item in page["executions"]:
        end = item.get("stopDate") or datetime.now(timezone.utc)
        rows.append({"name": item["name"], "status": item["status"],
                     "started": item["startDate"].isoformat(),
                     "seconds": round((end - item["startDate"]).total_seconds(), 1)})
    if args.json:
        print(json.dumps({"executions": rows}))
    for row in [] if args.json else rows:
        print(f"{row['started'][:19]}  {row['status']:<10} {row['seconds']:>8.1f}s  {row['name']}")
    return 0


def _cleanup(args, clients: Clients, outputs: StackOutputs) -> int:
    """Delete models named `<prefix>--...` that carry this pipeline's execution tag."""
    prefix = f"{outputs.job_name_prefix}{NAME_SEPARATOR}"
    models = []
    for page in clients.sagemaker.get_paginator("list_models").paginate(NameContains=prefix):
        for model in page["Models"]:
            tags = clients.sagemaker.list_tags(ResourceArn=model["ModelArn"]).get("Tags", [])
            if model["ModelName"].startswith(prefix) and any(t["Key"] == TAG_EXECUTION for t in tags):
                models.append(model["ModelName"])
    for name in models:
        if not args.dry_run:
            clients.sagemaker.delete_model(ModelName=name)
    verb = "would delete" if args.dry_run else "deleted"
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "models": models}))
    else:
        print(f"{verb} {len(models)} model(s)" + "".join(f"\n  {name}" for name in models))
    return 0


def _stop(args, clients: Clients, outputs: StackOutputs) -> int:
    """Stop every RUNNING execution of this stack's state machine."""
    pages = clients.sfn.get_paginator("list_executions").paginate(
        stateMachineArn=outputs.state_machine_arn, statusFilter="RUNNING")
    running = [item["executionArn"] for page in pages for item in page["executions"]]
    for arn in running:
        if not args.dry_run:
            clients.sfn.stop_execution(executionArn=arn, error="Stopped",
                                       cause="stopped by run.py stop")
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "executions": running}))
    else:
        verb = "would stop" if args.dry_run else "stopped"
        print(f"{verb} {len(running)} running execution(s)" + "".join(f"\n  {arn}" for arn in running))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command and args.local:
        parser.error(f"{args.command} needs a deployed stack: the --local emulator lives only for one run")
    run_only = [flag for flag, value in (("--name", args.name), ("--rows", args.rows), ("--hp", args.hp),
                                         ("--input", args.input), ("--keep-data", args.keep_data))
                if value]
    if args.command and run_only:
        parser.error(f"{', '.join(run_only)} only apply when starting a run, not to {args.command}")
    if args.local and args.detach:
        parser.error("--detach needs a deployed stack: the --local emulator ends with run.py")
    try:
        with stack_outputs(args) as (outputs, interval):
            if not args.command:  # everything a new run needs is checked before any AWS call
                name = execution.check_prefix(args.name, outputs.job_name_prefix) if args.name \
                    else execution.new_name(outputs.job_name_prefix)
                execution_input = execution.build_input(args.input, args.rows, args.hp)
                execution.check_input(execution_input, name, outputs)
            clients = Clients(outputs.region)
            if args.command == "follow":
                return _watch(args, clients, outputs, args.execution_arn, interval)
            if args.command == "list":
                return _list(args, clients, outputs)
            if args.command == "cleanup":
                return _cleanup(args, clients, outputs)
            if args.command == "stop":
                return _stop(args, clients, outputs)
            return _start(args, clients, outputs, interval, name, execution_input)
    except UsageError as error:
        print(f"run.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except NoCredentialsError:
        print("run.py: error: no AWS credentials found: configure them (aws configure, AWS_PROFILE "
              "or environment variables), or rehearse offline with --local", file=sys.stderr)
        return EXIT_USAGE
    except (ClientError, BotoCoreError) as error:
        print(f"run.py: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except results.ResultsError as error:
        print(f"run.py: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("run.py: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
