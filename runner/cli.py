"""run.py: start a training run from the stack outputs, follow it live, fetch and score the predictions.

The same code drives AWS and the offline rehearsal (--local); only where the clients point differs.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import functools
import json
import os
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from components.definition import TAG_EXECUTION
from lambda_src.execution_input import NAME_SEPARATOR
from runner import data as user_data, execution, results
from runner.follow import LiveDisplay, PlainDisplay, Polling, follow
from runner.endpoint import EndpointKey, served_stack, signed_get
from runner.outputs import PROJECT_DIR, StackOutputs, UsageError, arn_part, load_outputs
from runner.terminal import shown

if TYPE_CHECKING:
    from runner import plot

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
RUNS_DIR = PROJECT_DIR / "runs"
# Polls start at the first wait and slow down to the second while nothing changes; locally the
# emulator also ends the wait the moment an execution ends.
# The training log (round, evaluation line) is read every 10 s on AWS, every 0.5 s locally.
AWS_POLLING, LOCAL_POLLING = Polling(5.0, 15.0, log_every=10.0), Polling(0.1, 0.3, log_every=0.5)
# Throttling is retried by botocore itself, with client-side rate limiting.
_RETRIES = {"mode": "adaptive", "max_attempts": 10}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _usd(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount in US dollars (e.g. 0.50)")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535; 0 picks a free one)")
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


def _seed(text: str) -> int:
    try:
        return execution.parse_seed(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--seed ")) from None


def _split(text: str) -> tuple[float, float]:
    try:
        return user_data.parse_split(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix(f"--split {text!r}: ")) from None


def _runs_dir(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a directory, e.g. --runs-dir runs")
    return Path(text).expanduser()


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
        epilog="exit codes: 0 success (or detached), 1 the execution failed or its results could "
               "not be fetched or saved, 2 usage error, 130 interrupted")
    from runner.version import VersionAction

    parser.add_argument("--version", action=VersionAction, help="print which code this is (git commit) and exit")
    _source_options(parser)
    run = parser.add_argument_group("run options")
    run.add_argument("--local", action="store_true",
                     help="offline rehearsal: host an AWS emulator in this process, deploy the same "
                          "definition there and train with local XGBoost (no AWS account needed)")
    run.add_argument("--name", type=_execution_name,
                     help="execution name (also the SageMaker job and model name): lower-case letters, "
                          "digits and hyphens; `--name baseline` is <jobNamePrefix>--baseline (63 characters "
                          "at most in all); default <prefix>--<UTC time>-<random>; used once (runs/<name>/)")
    run.add_argument("--rows", type=_positive_int, help="training rows (overrides the stack default)")
    run.add_argument("--hp", type=_hyperparameter, action="append", default=[], metavar="KEY=VALUE",
                     help="XGBoost hyperparameter merged over the stack defaults (repeatable)")
    run.add_argument("--seed", type=_seed, metavar="N",
                     help="dataset seed, to repeat a run exactly (default: drawn, printed and recorded)")
    run.add_argument("--input", metavar="JSON",
                     help="raw execution input; --rows, --hp and --seed apply on top")
    run.add_argument("--data", metavar="FILE|S3URI",
                     help="train on this data instead of the generated sample: a CSV file with a header "
                          "row (or Parquet), checked here and uploaded under the run's folder, or "
                          "s3://bucket/key (or .../prefix/) inside the stack's dataSources, prepared in AWS")
    run.add_argument("--label", metavar="COLUMN", help="with --data: the label column (default: label)")
    run.add_argument("--test", metavar="FILE|S3URI",
                     help="with --data: held-out rows to score, same columns (default: a seeded share of --data)")
    run.add_argument("--split", type=_split, metavar="VALIDATION,TEST",
                     help="with --data: fractions of its rows for validation and test (default 0.1,0.2; "
                          "with --test: 0.1,0)")
    run.add_argument("--categorical", choices=("auto", "off"),
                     help="with --data: text feature columns are encoded (auto, the default: one-hot up to "
                          "10 categories, ordinal beyond) or refused (off)")
    run.add_argument("--max-cost", type=_usd, metavar="USD",
                     help="refuse the run, before anything starts, when the most it can cost (at list prices) "
                          "is above USD; rehearsed with --local at prices recorded in runner/cost.py")
    run.add_argument("--no-progress", action="store_true", help="plain progress lines, even on a terminal")
    run.add_argument("--detach", action="store_true",
                     help="on Ctrl-C leave the execution running instead of stopping it")
    run.add_argument("--keep-data", action="store_true", help="also download the generated dataset")
    run.add_argument("--runs-dir", type=_runs_dir, default=RUNS_DIR, metavar="DIR",
                     help="where <name>/ with the run's files goes (default runs/ in the project "
                          "directory, wherever run.py is started); never overwritten")

    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     description="without a command, run.py starts a new execution")
    attach = commands.add_parser(
        "follow", help="attach to a running or finished execution; Ctrl-C detaches",
        argument_default=argparse.SUPPRESS,
        description="Follow an execution until it ends, then save and score its results as a run "
                    "does. Ctrl-C detaches and leaves the execution running, unless --stop.")
    attach.add_argument("execution_arn", metavar="ARN")
    attach.add_argument("--stop", action="store_true", default=False,
                        help="on Ctrl-C stop the execution instead of detaching")
    attach.add_argument("--no-progress", action="store_true", help="plain progress lines")
    attach.add_argument("--keep-data", action="store_true", help="also download the generated dataset")
    attach.add_argument("--runs-dir", type=_runs_dir, metavar="DIR", help="where <name>/ goes (default runs)")
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
    models = commands.add_parser("models", help="the stack's registered models: versions, metrics, approval",
                                 argument_default=argparse.SUPPRESS)
    models.add_argument("--max", type=_list_size, default=20, metavar="N",
                        help="how many of the latest versions, 1-1000 (default 20)")
    approve = commands.add_parser("approve", help="approve a registered model version (UpdateModelPackage)",
                                  argument_default=argparse.SUPPRESS)
    reject = commands.add_parser("reject", help="reject a registered model version (UpdateModelPackage)",
                                 argument_default=argparse.SUPPRESS)
    for verdict in (approve, reject):
        verdict.add_argument("version", type=_positive_int, metavar="VERSION",
                             help="the version number run.py models lists")
        verdict.add_argument("--note", metavar="TEXT", help="why (the version's ApprovalDescription)")
    for sub in (attach, listing, cleanup, stop, models, approve, reject):
        _source_options(sub, default=argparse.SUPPRESS)
        sub.add_argument("--local", action="store_true", default=argparse.SUPPRESS,
                         help="the stack `run.py serve` keeps up locally (a --local run's emulator ends with it)")
    past = commands.add_parser(
        "runs", help="past runs in runs/ (local and AWS): list them, show one, compare several",
        argument_default=argparse.SUPPRESS,
        description="Read the runs' summary.json files; no AWS call. Without a subcommand: one line per run.")
    past.add_argument("--runs-dir", type=_runs_dir, metavar="DIR", help="where the runs are (default runs/ "
                                                                        "in the project directory)")
    past.add_argument("--json", action="store_true", help="print one JSON object")
    views = past.add_subparsers(dest="view", metavar="VIEW")
    listed = views.add_parser("list", help="one line per run (the default)", argument_default=argparse.SUPPRESS)
    listed.add_argument("--runs-dir", type=_runs_dir, metavar="DIR", help="where the runs are")
    listed.add_argument("--json", action="store_true", help="print one JSON object")
    one = views.add_parser("show", help="one run: settings, metrics, timings, files, failure",
                           argument_default=argparse.SUPPRESS)
    one.add_argument("run_name", metavar="NAME", help="the run's folder name, or a prefix naming one run")
    several = views.add_parser("compare", help="runs side by side (rows that differ are marked *)",
                               argument_default=argparse.SUPPRESS)
    several.add_argument("run_names", metavar="NAME", nargs="+", help="two or more runs")
    several.add_argument("--with-times", action="store_true", default=False,
                         help="also compare start times and durations (always different, so left out)")
    serve = commands.add_parser(
        "serve", help="serve the offline rehearsal as a local AWS endpoint until Ctrl-C",
        argument_default=argparse.SUPPRESS,
        description="Deploy the stack into the AWS emulator as --local does and serve it over HTTP on "
                    "127.0.0.1, for the AWS CLI, boto3 and run.py --outputs-file (and run.py --local, "
                    "which uses it while it is up). Runs until Ctrl-C or SIGTERM.")
    serve.add_argument("--stack", metavar="NAME", help="the stack file whose settings to use (default dev)")
    serve.add_argument("--port", type=_port, default=5000, metavar="N",
                       help="port on 127.0.0.1 (default 5000; 0 picks a free one)")
    serve.add_argument("--outputs-file", metavar="FILE",
                       help="write the stack outputs and the endpoint's key there (`pulumi stack output --json` "
                            "form, readable by you only) once it is up")
    serve.add_argument("--verbose", action="store_true", default=False, help="log each request it answers")
    parser.set_defaults(stop=False)
    return parser


class Clients:
    def __init__(self, region: str, endpoint_url: str | None = None, endpoint_key: EndpointKey | None = None):
        # boto3's default session: with --local, the emulator already loaded these service models there.
        # A local endpoint gets the key it admits: the operator's own credentials are never sent to it.
        # boto3 is imported here, not with this module: 0.3 s that run.py's first line need not wait for.
        import boto3
        from botocore.config import Config

        where = {"endpoint_url": endpoint_url, **endpoint_key.boto3_arguments()} if endpoint_url else {}
        # A local endpoint is reached directly, never through an HTTP proxy named in the environment.
        config = Config(retries=_RETRIES, proxies={}) if endpoint_url else Config(retries=_RETRIES)
        self.sfn = boto3.client("stepfunctions", region_name=region, config=config, **where)
        self.sagemaker = boto3.client("sagemaker", region_name=region, config=config, **where)
        self.s3 = boto3.client("s3", region_name=region, config=config, **where)
        self.logs = boto3.client("logs", region_name=region, config=config, **where)  # training rounds


def _clients(outputs: StackOutputs) -> Clients:
    return Clients(outputs.region, outputs.endpoint_url, outputs.endpoint_key) if outputs.endpoint_url \
        else Clients(outputs.region)


def _endpoint_outputs(outputs: StackOutputs, source: str) -> tuple[StackOutputs, Polling]:
    """A stack on a local endpoint (`run.py serve`): its polling and its IAM report."""
    configured = os.environ.get("AWS_ENDPOINT_URL")
    if configured and configured.rstrip("/") != outputs.endpoint_url:
        raise UsageError(f"AWS_ENDPOINT_URL is {configured} but {source} is served on {outputs.endpoint_url}: "
                         "unset AWS_ENDPOINT_URL or use the outputs of that endpoint")

    def iam_report(execution_arn: str) -> dict:
        from urllib.parse import quote

        url = f"{outputs.endpoint_url}/_rehearsal/iam-report?execution={quote(execution_arn, safe='')}"
        status, _, body = signed_get(url, outputs.endpoint_key, timeout=30)
        if status != 200:
            raise OSError(f"the endpoint answered the IAM report's request with HTTP {status}")
        return json.loads(body)

    return dataclasses.replace(outputs, iam_report=iam_report), LOCAL_POLLING


# A local run's generated CSV: "label,x,y" with x and y in 0-100, at most 10 bytes a row. The
# emulator holds it in memory and writes it to a temporary folder; xgboost 1.7.4 takes about 130
# bytes of memory a training row on top.
CSV_BYTES_PER_ROW, XGBOOST_BYTES_PER_ROW = 10, 130


def _free_memory() -> int | None:
    """Bytes of memory available to a new process: /proc/meminfo's MemAvailable, else os.sysconf."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_machine_size(rows: int) -> None:
    """Refuse a local run of `rows` generated rows that this machine's free memory or disk cannot hold."""
    import shutil
    import tempfile

    def size(count: int) -> str:
        return f"{count / 1e9:,.1f} GB" if count >= 1e9 else f"{count / 1e6:,.1f} MB"

    memory = rows * (CSV_BYTES_PER_ROW + XGBOOST_BYTES_PER_ROW)
    free_memory = _free_memory()
    if free_memory is not None and memory > free_memory:
        raise UsageError(
            f"--local with {rows:,} rows needs about {size(memory)} of memory ({rows:,} rows x "
            f"{CSV_BYTES_PER_ROW} bytes of CSV + {XGBOOST_BYTES_PER_ROW} bytes for xgboost a row) but "
            f"{size(free_memory)} is free: use fewer --rows, or run it on AWS")
    temp_dir = tempfile.gettempdir()
    disk = rows * CSV_BYTES_PER_ROW
    try:
        free_disk = shutil.disk_usage(temp_dir).free
    except OSError:
        return
    if disk > free_disk:
        raise UsageError(
            f"--local with {rows:,} rows writes about {size(disk)} ({rows:,} rows x {CSV_BYTES_PER_ROW} "
            f"bytes) to {temp_dir} but {size(free_disk)} is free there: use fewer --rows, free some "
            "space (or set TMPDIR to a larger disk), or run it on AWS")


@dataclasses.dataclass(frozen=True)
class RunChecks:
    """What a new run is checked against: the stack's job name prefix, bucket and run defaults."""
    job_name_prefix: str
    bucket_name: str
    run_defaults: dict

    @classmethod
    def of(cls, outputs) -> "RunChecks":
        if isinstance(outputs, dict):
            return cls(outputs["jobNamePrefix"], outputs["bucketName"], outputs["runDefaults"])
        return cls(outputs.job_name_prefix, outputs.bucket_name, outputs.run_defaults)


@dataclasses.dataclass
class StackSource:
    """Where the stack is, known before anything is deployed or started.

    `checks`: what a new run is checked against, from a deployed stack's outputs or, for a local
    stack, from the outputs its deployment will export (`expected`, from
    `runner.emulator.preflight.expected_outputs`): every refusal comes before the first progress line
    (`announce`) and the deployment."""
    checks: RunChecks
    outputs: StackOutputs | None = None  # a deployed stack's (AWS, a local endpoint)
    polling: Polling | None = None
    settings: object = None  # a local stack's PipelineSettings, deployed by `deployed`
    expected: dict | None = None
    announce: str | None = None

    @property
    def local_deployment(self) -> bool:
        return self.settings is not None

    @contextlib.contextmanager
    def deployed(self) -> Iterator[tuple[StackOutputs, Polling]]:
        """The outputs to use and how to poll; a local stack is deployed into the emulator here."""
        if not self.local_deployment:
            yield self.outputs, self.polling
            return
        from runner.emulator import DeployError, local_stack
        from runner.emulator import preflight
        from runner.emulator.workarounds import service_models

        from runner.emulator.sagemaker import container_pool

        with contextlib.ExitStack() as emulator:
            # One run: the image's container processes start loading now, and no more than its jobs take.
            container_pool.keep_warm(self.settings.xgboost_version, refill=False)
            emulator.callback(container_pool.close)
            emulator.enter_context(service_models.installed())
            try:
                outputs = emulator.enter_context(local_stack(self.settings))
                preflight.check_deployed(self.expected, outputs)
            except (DeployError, preflight.UnexpectedOutputs) as error:
                raise LocalDeployFailed(f"the program could not be deployed to the local emulator: {error}") from None
            yield (dataclasses.replace(StackOutputs.from_dict(outputs, "the local emulator"),
                                       iam_report=outputs.iam_report),
                   dataclasses.replace(LOCAL_POLLING, sleep=outputs.execution_ends.sleeper()))


def stack_source(args, rows: int | None = None) -> StackSource:
    """The stack a run or command uses, checked without deploying: a deployed stack's outputs, a
    local endpoint's, or a local stack's settings (and this machine against them).

    `rows`: a new local run's generated rows (0: the stack's; None: no generated dataset), checked
    against this machine's free memory and disk."""
    if not args.local:
        outputs = load_outputs(args.stack, args.outputs_file)
        if outputs.endpoint_url:
            source = "stdin" if args.outputs_file == "-" else args.outputs_file or f"stack {args.stack}"
            outputs, polling = _endpoint_outputs(outputs, source)
            return StackSource(RunChecks.of(outputs), outputs=outputs, polling=polling)
        return StackSource(RunChecks.of(outputs), outputs=outputs, polling=AWS_POLLING)
    if args.outputs_file:
        raise UsageError("--local deploys its own emulator: drop --outputs-file")
    stack = args.stack or "dev"
    served = served_stack(stack)
    if served is not None:
        source = f"the endpoint {served['localEndpoint']}"
        outputs, polling = _endpoint_outputs(StackOutputs.from_dict(served, source), source)
        return StackSource(RunChecks.of(outputs), outputs=outputs, polling=polling,
                           announce=f"using the local endpoint run.py serve holds stack {stack} on, "
                                    f"{served['localEndpoint']}: no deployment")
    from components.settings import SettingsError, load_stack_settings
    from runner.emulator import preflight
    from runner.emulator.workarounds import service_models

    # The settings resolve the image from botocore's endpoint data: parsed once, for the emulator too.
    with service_models.installed(with_moto=False):
        try:
            settings = load_stack_settings(stack)
        except SettingsError as error:
            raise UsageError(str(error)) from None
    try:
        preflight.check_settings(settings)
    except (preflight.UnsupportedVersion, preflight.TooManyHosts) as error:
        raise UsageError(f"Pulumi.{stack}.yaml: {error}") from None
    if rows is not None:
        check_machine_size(rows or settings.rows)
    expected = preflight.expected_outputs(settings)
    return StackSource(RunChecks.of(expected), settings=settings, expected=expected,
                       announce=f"run.py: deploying stack {stack} into the local emulator ...")


def _generated_rows(execution_input: dict) -> int | None:
    """The rows a new run generates (0: the stack's default), None when it trains on given data.
    Only a plain positive integer counts: the input is checked in full later, against the stack."""
    if execution_input.get("data") is not None:
        return None
    rows = execution_input.get("rows", 0)
    return rows if type(rows) is int and rows > 0 else 0


class LocalDeployFailed(Exception):
    """The program failed under the local engine double (a resource type it cannot create, ...)."""


def _display(args):
    if args.json or args.no_progress or not sys.stderr.isatty():
        return PlainDisplay(sys.stderr)
    return LiveDisplay(sys.stderr)


def _where(args, outputs: StackOutputs) -> dict:
    """Where the run ran, for its record."""
    stack = {"stack": args.stack or ("dev" if args.local else None)}
    stack["stack_file"] = f"Pulumi.{stack['stack']}.yaml" if stack["stack"] else None
    if getattr(args, "data", None) and not user_data.is_s3(args.data):  # the file's own name, for the workbench
        stack["data_file"] = args.data
    if outputs.endpoint_url:
        return {"local": True, "region": outputs.region, **stack,
                "emulator": f"moto, served by run.py serve on {outputs.endpoint_url}"}
    if args.local:
        from importlib import metadata

        return {"local": True, "region": outputs.region, **stack,
                "emulator": f"moto {metadata.version('moto')}, in the run.py process"}
    return {"local": False, **stack, "partition": arn_part(outputs.state_machine_arn, 1),
            "account": arn_part(outputs.state_machine_arn, 4), "region": outputs.region,
            "state_machine_arn": outputs.state_machine_arn}


def _format_metrics(scores: dict) -> str:
    return "   ".join(f"{name} {value:.4f}" if value is not None else f"{name} n/a"
                      for name, value in scores.items())


def _report_registration(summary: dict) -> None:
    """The quality gate's verdict and the model package the run registered."""
    gate = summary.get("quality_gate") or {}
    if gate.get("metric"):
        print(f"  {shown(gate['message'])}")
    if summary.get("model_package_arn"):
        print(f"  registered {shown(summary['model_package_arn'])} (run.py models; run.py approve VERSION)")


def _report(summary: dict, outputs: StackOutputs, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, allow_nan=False))
        return
    name, status = shown(summary["execution_name"]), shown(summary["status"])
    if status == "SUCCEEDED":
        rows = summary["rows"] or {}
        print(f"{name} SUCCEEDED: {rows.get('train')} training rows, {rows.get('test')} held-out rows, "
              f"seed {summary['seed']}")
        if summary["metrics"]:
            print(f"  {_format_metrics(summary['metrics'])}")
        for metric, reason in (summary["metrics_undefined"] or {}).items():
            print(f"  {shown(metric)}: {shown(reason)}")
        if summary["metrics_missing"]:
            print(f"  no metrics: {shown(summary['metrics_missing'])}")
        _report_registration(summary)
    else:
        print(f"{name} {status}" + (f" in state '{shown(summary['failed_state'])}'" if summary["failed_state"] else "")
              + (f", seed {summary['seed']}" if summary["seed"] is not None else ""))
        print(f"  error: {shown(summary['error'])}")
        print(f"  cause: {shown(summary['cause'])}")
        if summary.get("metrics"):  # a run the quality gate stopped was evaluated
            print(f"  {_format_metrics(summary['metrics'])}")
        console = urlparse(outputs.console_url)
        if console.scheme == "https":  # the local emulator has no console
            print(f"  console: https://{console.netloc}/states/home?region={outputs.region}"
                  f"#/v2/executions/details/{summary['execution_arn']}")
    if summary.get("cost"):
        from runner import cost

        print(f"  {cost.describe(summary['cost'])}")
    if summary["artifacts_dir"]:
        kept = "predictions, model, plot and summary.json" if summary["plot"] else (
            "predictions, model and summary.json" if summary["predictions"] else "summary.json")
        print(f"  {kept} in {summary['artifacts_dir']}/")
        if summary["plot"]:
            print(f"  plot: {summary['plot']}")
    if summary["results_error"]:
        print(f"  not saved: {shown(summary['results_error'])}")


def _follow_command(args, arn: str) -> str:
    """The command that follows `arn` again, with this interpreter and the same stack options."""
    interpreter = Path(sys.executable or "python3")
    script = PROJECT_DIR / "run.py"
    try:
        interpreter_text = os.path.relpath(interpreter) if interpreter.is_relative_to(Path.cwd()) \
            else str(interpreter)
    except ValueError:
        interpreter_text = str(interpreter)
    script_text = os.path.relpath(script) if script.is_relative_to(Path.cwd()) else str(script)
    words = [interpreter_text, script_text, "follow", arn]
    if args.stack:
        words += ["--stack", args.stack]
    if args.outputs_file:
        words += ["--outputs-file", args.outputs_file]
    if args.runs_dir != RUNS_DIR:
        words += ["--runs-dir", str(args.runs_dir)]
    return shlex.join(words)


def _watch(args, clients: Clients, outputs: StackOutputs, arn: str, polling: Polling,
           run_dir: Path | None, stop_on_interrupt: bool, painter: plot.Painter | None) -> int:
    display = _display(args)
    interrupted = None
    try:
        view = follow(clients.sfn, clients.sagemaker, arn, display,
                      dataclasses.replace(polling, logs=getattr(clients, "logs", None)))
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
        summary = results.collect(clients.s3, view, _where(args, outputs), run_dir, args.keep_data,
                                  not_saved=not_saved, painter=painter,
                                  iam_report=outputs.iam_report and functools.partial(outputs.iam_report, arn),
                                  cost=_cost(args, clients, outputs))
    except KeyboardInterrupt:
        results.release(run_dir)
        print(f"interrupted while saving the results of {shown(view.name)} ({shown(view.status)}); nothing was kept",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    _report(summary, outputs, args.json)
    if summary["results_error"]:
        print(f"run.py: error: {shown(summary['results_error'])}", file=sys.stderr)
    return 0 if view.status == "SUCCEEDED" and not summary["results_error"] else EXIT_FAILED


def _worst_case(args, clients: Clients, outputs: StackOutputs) -> None:
    """Print the most the run can cost with the deployed limits; above --max-cost, refuse it."""
    from runner import cost

    local = args.local or bool(outputs.endpoint_url)
    if local and args.max_cost is None:  # nothing is billed: the run's one cost line says so at its end
        return
    # Locally --max-cost is rehearsed at recorded prices: refused where AWS would refuse it.
    prices = cost.RecordedPrices() if local else cost.PriceList()
    try:
        definition = clients.sfn.describe_state_machine(stateMachineArn=outputs.state_machine_arn)["definition"]
        worst = cost.worst_case(cost.RunLimits.from_definition(definition, outputs.region), prices)
    except (ClientError, BotoCoreError) as error:
        worst = {"usd": None, "unknown": [f"cannot read the state machine's definition: {error}"]}
    print(cost.describe_worst_case(worst), file=sys.stderr)
    if args.max_cost is None:
        return
    if worst["usd"] is None:
        raise UsageError(f"--max-cost {args.max_cost:.2f}: the worst case is unknown "
                         f"({'; '.join(worst['unknown'])}), so nothing was started")
    if worst["usd"] > args.max_cost:
        recorded = f" (at {cost.RECORDED_PRICES_NOTE}; AWS would refuse it too)" if local else ""
        raise UsageError(f"--max-cost {args.max_cost:.2f}: this run can cost up to ${worst['usd']:.2f}{recorded}; "
                         "nothing was started (lower maxRuntimeSeconds, maxWaitSeconds or the instance counts, "
                         "or raise --max-cost)")


def _cost(args, clients: Clients, outputs: StackOutputs):
    """The run's `cost` record, for results.collect."""
    from runner import cost

    local = args.local or bool(outputs.endpoint_url)
    prices = None if local else cost.PriceList()
    return lambda view, summary: cost.execution_cost(
        view, summary, region=outputs.region, bytes_kept=cost.stored_bytes(clients.s3, outputs.bucket_name, view.name),
        prices=prices, local=local, sagemaker=clients.sagemaker)


def _interrupted(args, clients: Clients, outputs: StackOutputs, arn: str, last, stop: bool) -> int:
    """Ctrl-C while following: stop the execution or detach, and say so for the state it was in.
    The run is named by its execution name (the ARN's last part), not the whole ARN."""
    name = arn.rsplit(":", 1)[-1]
    running = [state.name for state in last.states if state.exited is None] if last else []
    in_state = f" in state '{shown(running[-1])}'" if running else (" before its first state" if last else "")
    job = next((kind for word, kind in (("train", "training"), ("transform", "transform"))
                if running and word in running[-1].lower()), None)
    if last is not None and last.status != "RUNNING":
        print(f"interrupted after {name} had ended ({shown(last.status)}); its results were not saved: "
              f"fetch them with:\n  {_follow_command(args, arn)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not stop:
        print(f"detached from {name}{in_state}; the execution goes on. Follow it again with:\n"
              f"  {_follow_command(args, arn)}", file=sys.stderr)
        return 0
    try:
        clients.sfn.stop_execution(executionArn=arn, error="Interrupted", cause="stopped by run.py (Ctrl-C)")
    except ClientError as error:
        print(f"could not stop {name}{in_state}: {shown(error)}; stop it with: "
              f"{_follow_command(args, arn).replace(' follow ' + arn, ' stop')}", file=sys.stderr)
        return EXIT_INTERRUPTED
    then = f"; its SageMaker {job} job is stopped too (billed until it has stopped)" if job else ""
    if args.local and not outputs.endpoint_url:
        then += "; shutting the local emulator down (a SageMaker job step in progress ends first)"
    print(f"stopped {name}{in_state}{then}", file=sys.stderr)
    return EXIT_INTERRUPTED


@dataclasses.dataclass
class CheckedRun:
    """A new run that passed every check: its name, input, files to upload and claimed runs/<name>/."""
    name: str
    execution_input: dict
    uploads: dict[str, Path]
    run_dir: Path
    started: bool = False


@contextlib.contextmanager
def _checked_run(args, execution_input: dict, source: StackSource) -> Iterator[CheckedRun]:
    """Check a new run against the stack (its name, input and data, as the first state will) and
    claim runs/<name>/, before anything is deployed or started; the folder is given back unless
    the execution starts."""
    checks = source.checks
    name = execution.full_name(args.name, checks.job_name_prefix) if args.name \
        else execution.new_name(checks.job_name_prefix)
    uploads: dict[str, Path] = {}
    if args.data:
        execution_input["data"], uploads = user_data.execution_data(
            user_data.DataRequest(args.data, args.label, args.test, args.split, args.categorical), checks.bucket_name, name)
    count_classes = bool(uploads) and execution.needs_num_class(execution_input, checks)
    if count_classes:  # checked with a stand-in, then with the count the file's check found
        execution_input["hyperparameters"] = {**execution_input.get("hyperparameters", {}), "num_class": "2"}
    checked = execution.check_input(execution_input, name, checks)
    found = user_data.Findings()
    if count_classes:
        del execution_input["hyperparameters"]["num_class"], checked["hyperparameters"]["num_class"]
    with user_data.checked_files(checked["data"], uploads, seed=checked["seed"],
                                 shards=checks.run_defaults.get("shards", 1),
                                 hyperparameters=checked["hyperparameters"], found=found) as files:
        _say_merge_notes(args, execution_input, checks)  # once every check passed: a refusal stays one line
        if found.hyperparameters:
            execution_input["hyperparameters"].update(found.hyperparameters)
            execution.check_input(execution_input, name, checks)
            print(f"run.py: num_class={found.hyperparameters['num_class']}: the classes of label column "
                  f"{checked['data']['label']!r} (--hp num_class=N to set it)", file=sys.stderr)
        for warning in found.warnings:
            print(f"run.py: warning: {warning}", file=sys.stderr)
        local = args.local or bool(source.outputs and source.outputs.endpoint_url)
        run = CheckedRun(name, execution_input, files, results.claim(args.runs_dir, name, local=local))
        try:
            yield run
        finally:
            if not run.started:
                results.release(run.run_dir)


def _say_merge_notes(args, execution_input: dict, checks: RunChecks) -> None:
    """What merging the run's hyperparameters over the stack's changed (a dropped eval_metric),
    naming the stack file the default came from."""
    from lambda_src.execution_input import merge_hyperparameters, normalise_hyperparameters

    try:
        overrides = normalise_hyperparameters(execution_input.get("hyperparameters", {}))
    except ValueError:
        return  # refused by the input's check, with its own message
    stack_file = f"Pulumi.{args.stack or 'dev'}.yaml" if args.local or args.stack else "the stack's settings"
    for note in merge_hyperparameters(checks.run_defaults["hyperparameters"], overrides)[1]:
        print(f"run.py: {note.replace('the stack', stack_file + ': the stack', 1)}", file=sys.stderr)


def _start(args, outputs: StackOutputs, polling: Polling, run: CheckedRun, painter: plot.Painter | None) -> int:
    name, execution_input, uploads, run_dir = run.name, run.execution_input, run.uploads, run.run_dir
    clients = None
    created: list[str] = []  # what this run's upload put: all it may delete
    try:
        clients = _clients(outputs)
        _worst_case(args, clients, outputs)  # before anything is uploaded or started
        for uri, path in uploads.items():
            print(f"uploading {path} ({path.stat().st_size / 1e6:,.1f} MB) to {uri}", file=sys.stderr)
        user_data.upload(clients.s3, uploads, created)
        started = clients.sfn.start_execution(stateMachineArn=outputs.state_machine_arn, name=name,
                                              input=json.dumps(execution_input))
    except user_data.UploadExists as exists:
        user_data.remove(clients.s3, created)
        raise UsageError(f"{exists} already exists: another run named {name} uploaded it (it is starting or "
                         "running, or its upload was left); it is left alone: pick another --name or leave "
                         "--name out") from None
    except BaseException:
        if clients is not None:
            user_data.remove(clients.s3, created)
        raise
    run.started = True
    where = f" (local endpoint {outputs.endpoint_url})" if outputs.endpoint_url else \
        " (local emulator)" if args.local else f"\n  {outputs.console_url}"
    print(f"started {name}, seed {execution_input['seed']}{where}", file=sys.stderr)
    try:
        return _watch(args, clients, outputs, started["executionArn"], polling, run_dir,
                      stop_on_interrupt=not args.detach, painter=painter)
    finally:
        try:
            user_data.remove_after_end(clients.sfn, clients.s3, started["executionArn"], created,
                                       wait_seconds=0 if args.detach else user_data.STOP_WAIT_SECONDS)
        except (BotoCoreError, ClientError, KeyboardInterrupt) as error:  # never the run's outcome
            for uri in created:
                print(f"run.py: warning: could not delete the upload {uri} after the run "
                      f"({error or 'interrupted'}): aws s3 rm {shlex.quote(uri)}", file=sys.stderr)


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
    elif not rows:
        print(f"no executions of {outputs.state_machine_name} yet: start one with run.py")
    for row in [] if args.json else rows:
        print(f"{row['started'][:19]}  {shown(row['status']):<10} {row['seconds']:>8.1f}s  {shown(row['name'])}")
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
        print(f"{verb} {len(models)} model(s)" + "".join(f"\n  {shown(name)}" for name in models))
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
        print(f"{verb} {len(running)} running execution(s)" + "".join(f"\n  {shown(arn)}" for arn in running))
    return 0


def _model_group(outputs: StackOutputs) -> str:
    """The stack's model package group: named as its jobs (components.definition.model_package_group_name)."""
    return outputs.job_name_prefix


def _evaluation_metrics(s3, described: dict) -> dict:
    """The metrics of a version's ModelMetrics.ModelQuality.Statistics (evaluation.json), {} if unreadable."""
    uri = (((described.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}).get("S3Uri")
    if not uri:
        return {}
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    try:
        statistics = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (ClientError, ValueError):
        return {}
    groups = [value for value in statistics.values() if isinstance(value, dict)] if isinstance(statistics, dict) else []
    return {name: metric.get("value") for group in groups for name, metric in group.items() if isinstance(metric, dict)}


def _models(args, clients: Clients, outputs: StackOutputs) -> int:
    """The group's latest versions with their metrics (evaluation.json) and approval status."""
    group = _model_group(outputs)
    try:
        page = clients.sagemaker.list_model_packages(ModelPackageGroupName=group, SortBy="CreationTime",
                                                     SortOrder="Descending", MaxResults=min(args.max, 100))
    except ClientError as error:
        raise UsageError(f"cannot list the model package group {group}: {error}: deploy this project's "
                         "stack (pulumi up) first") from None
    rows = []
    for item in page["ModelPackageSummaryList"][:args.max]:
        described = clients.sagemaker.describe_model_package(ModelPackageName=item["ModelPackageArn"])
        metadata = described.get("CustomerMetadataProperties") or {}
        rows.append({"version": item.get("ModelPackageVersion"), "arn": item["ModelPackageArn"],
                     "status": item.get("ModelApprovalStatus"), "created": item["CreationTime"].isoformat(),
                     "execution": metadata.get("execution"), "objective": metadata.get("objective"),
                     "metrics": _evaluation_metrics(clients.s3, described)})
    if args.json:
        print(json.dumps({"group": group, "models": rows}))
    elif not rows:
        print(f"no model registered in {group} yet: a run that passes the quality gate registers one")
    for row in [] if args.json else rows:
        print(f"{row['version']:>4}  {row['status']:<21} {row['created'][:19]}  {row['execution']}")
        if row["metrics"]:
            print(f"      {_format_metrics(row['metrics'])}")
    return 0


def _verdict(args, clients: Clients, outputs: StackOutputs) -> int:
    """approve / reject VERSION: UpdateModelPackage on the group's version."""
    status = "Approved" if args.command == "approve" else "Rejected"
    group = _model_group(outputs)
    partition, region, account = (arn_part(outputs.state_machine_arn, index) for index in (1, 3, 4))
    arn = f"arn:{partition}:sagemaker:{region}:{account}:model-package/{group.lower()}/{args.version}"
    try:
        clients.sagemaker.describe_model_package(ModelPackageName=arn)
    except ClientError:
        raise UsageError(f"{group} has no version {args.version}: run.py models lists them") from None
    note = getattr(args, "note", None)
    clients.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status,
                                           **({"ApprovalDescription": note} if note else {}))
    if args.json:
        print(json.dumps({"arn": arn, "version": args.version, "status": status}))
    else:
        print(f"{group} version {args.version}: {status}")
    return 0


def _check_follow_arn(arn: str, outputs: StackOutputs) -> None:
    machine = arn_part(outputs.state_machine_arn, 6)
    if (arn_part(arn, 2) != "states" or arn_part(arn, 5) != "execution"
            or arn_part(arn, 3) != outputs.region or arn_part(arn, 6) != machine):
        raise UsageError(f"{arn} is not an execution of this stack's state machine {machine} in "
                         f"{outputs.region} (arn:...:states:{outputs.region}:...:execution:{machine}:NAME)")


def _command(args, outputs: StackOutputs, polling: Polling, painter: plot.Painter | None) -> int:
    """follow, list, cleanup, stop, models, approve or reject."""
    if args.command == "follow":
        _check_follow_arn(args.execution_arn, outputs)
    clients = _clients(outputs)
    if args.command == "follow":
        return _watch(args, clients, outputs, args.execution_arn, polling, None, stop_on_interrupt=args.stop,
                      painter=painter)
    return {"list": _list, "cleanup": _cleanup, "stop": _stop, "models": _models, "approve": _verdict,
            "reject": _verdict}[args.command](args, clients, outputs)


def _flags(flags: list[str], one: str, several: str) -> str:
    """'--label only applies' or '--label, --test only apply': the verb agreeing with the flags."""
    return f"{', '.join(flags)} {one if len(flags) == 1 else several}"


def _runs(parser: argparse.ArgumentParser, args) -> int:
    """`run.py runs [show NAME | compare A B ...]`: the workbench over runs/."""
    from runner import workbench

    given = [flag for flag, value in (("--local", args.local), ("--name", args.name), ("--rows", args.rows),
                                      ("--hp", args.hp), ("--input", args.input), ("--data", args.data))
             if value]
    if given:
        parser.error(f"{_flags(given, 'does not apply', 'do not apply')} to runs (it reads past runs)")
    runs_dir = getattr(args, "runs_dir", RUNS_DIR)
    as_json = bool(getattr(args, "json", False))
    view = getattr(args, "view", None)
    def strict_json(value) -> str:
        return json.dumps(results.strict(value), allow_nan=False)

    try:
        if view == "show":
            run = workbench.find(runs_dir, args.run_name)
            print(strict_json({**run.record(), "summary": run.summary}) if as_json else workbench.show(run))
        elif view == "compare":
            if len(args.run_names) < 2:
                raise UsageError("compare needs two or more runs: run.py runs compare A B ...")
            text, record = workbench.compare([workbench.find(runs_dir, name) for name in args.run_names],
                                             with_times=args.with_times)
            print(strict_json(record) if as_json else text)
        else:
            text, records = workbench.list_runs(runs_dir)
            print(strict_json({"runs_dir": str(runs_dir), "runs": records}) if as_json else text)
    except UsageError as error:
        print(f"run.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `run.py runs | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _serve(parser: argparse.ArgumentParser, args) -> int:
    """`run.py serve`: the server (moto's HTTP application) is imported for this command only."""
    given = [flag for flag, value in (("--local", args.local), ("--name", args.name), ("--rows", args.rows),
                                      ("--hp", args.hp), ("--seed", args.seed is not None),
                                      ("--input", args.input), ("--data", args.data),
                                      ("--detach", args.detach), ("--json", args.json)) if value]
    if given:
        parser.error(f"{_flags(given, 'does not apply', 'do not apply')} to serve (it starts no run: clients do)")
    stack_name = getattr(args, "stack", None) or "dev"
    outputs_file = Path(args.outputs_file) if getattr(args, "outputs_file", None) else None
    print(f"run.py serve: loading stack {stack_name} ...", file=sys.stderr, flush=True)
    from components.settings import SettingsError, load_stack_settings
    from runner.emulator import DeployError
    from runner.emulator import server
    from runner.emulator.workarounds import service_models

    try:
        with service_models.installed():
            try:
                settings = load_stack_settings(stack_name)
            except SettingsError as error:
                raise UsageError(str(error)) from None
            server.serve(settings, args.port, outputs_file, verbose=args.verbose)
    except UsageError as error:
        print(f"run.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except DeployError as error:
        print(f"run.py: error: the program could not be deployed to the local emulator: {error}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            print(f"run.py: error: port {args.port} on 127.0.0.1 is in use: pick another with --port N "
                  "(0 picks a free one)", file=sys.stderr)
            return EXIT_USAGE
        print(f"run.py: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("run.py serve: interrupted while deploying; nothing is served", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


class _ReaderMayLeave:
    """stdout or stderr whose reader may go away (`run.py ... | head -n 3`): once it has, what is
    written is dropped, never raised, so a finished run is still saved and reported by exit code."""

    def __init__(self, stream):
        self._stream = stream

    def _dropped(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (BrokenPipeError, ValueError):  # the reader left, or the stream was closed
            self._dropped()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (BrokenPipeError, ValueError):
            self._dropped()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _ReaderMayLeave(sys.stdout), _ReaderMayLeave(sys.stderr)
    try:
        return _main(argv)
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        sys.stdout, sys.stderr = streams


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    from runner import suggest

    mistake = suggest.unknown_flag(sys.argv[1:] if argv is None else argv, parser)
    if mistake:
        parser.error(mistake)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(parser, args)
    if args.command == "runs":
        return _runs(parser, args)
    if args.command and args.local and served_stack(args.stack or "dev") is None:
        past = "; past runs: run.py runs" if args.command == "list" else ""
        parser.error(f"{args.command} --local needs the local stack `run.py serve` keeps up (a --local run's "
                     f"emulator ends with the run): start run.py serve, then run.py {args.command} --local{past}")
    run_only = [flag for flag, value in (("--name", args.name), ("--rows", args.rows), ("--hp", args.hp),
                                         ("--seed", args.seed is not None), ("--input", args.input),
                                         ("--detach", args.detach), ("--data", args.data),
                                         ("--label", args.label), ("--test", args.test),
                                         ("--split", args.split), ("--max-cost", args.max_cost is not None),
                                         ("--categorical", args.categorical),
                                         ("--keep-data", args.keep_data and args.command != "follow"))
                if value]
    if args.command and run_only:
        hint = " (follow detaches on Ctrl-C by default; --stop stops)" if "--detach" in run_only else ""
        parser.error(f"{_flags(run_only, 'only applies', 'only apply')} when starting a run, not to {args.command}{hint}")
    if args.local and args.detach:
        parser.error("--detach needs a deployed stack: the --local emulator ends with run.py")
    if not args.data:
        given = [flag for flag, value in (("--label", args.label), ("--test", args.test),
                                          ("--split", args.split), ("--categorical", args.categorical))
                 if value is not None]
        if given:
            parser.error(f"{_flags(given, 'only applies', 'only apply')} with --data")
    elif args.rows is not None:
        parser.error("--rows sizes the generated dataset; with --data every row of the data is used")
    phase = "before anything started"
    try:
        if not args.command:  # everything a new run needs is checked before any AWS call
            execution_input = execution.build_input(args.input, args.rows, args.hp, args.seed)
        rows = None if args.command or args.data else _generated_rows(execution_input)
        source = stack_source(args, rows)
        with contextlib.ExitStack() as held:
            run = None if args.command else held.enter_context(_checked_run(args, execution_input, source))
            if source.announce:  # the first progress line: every refusal of bad input came before it
                print(source.announce, file=sys.stderr, flush=True)
            painter = None
            if args.local and (run is not None or args.command == "follow"):
                from runner import plot

                phase = "while starting the local emulator; nothing was started"
                # The plot's process starts now: matplotlib loads while the stack deploys.
                painter = None if plot.loaded() else held.enter_context(plot.Painter())
            outputs, polling = held.enter_context(source.deployed())
            phase = "before anything started"
            code = _start(args, outputs, polling, run, painter) if run else _command(args, outputs, polling, painter)
            if args.local:  # leaving the block shuts the emulator down
                phase = "while shutting the local emulator down, after the execution ended or was stopped"
        return code
    except UsageError as error:
        print(f"run.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except NoCredentialsError:
        print("run.py: error: no AWS credentials found: configure them (aws configure, AWS_PROFILE "
              "or environment variables), or rehearse offline with --local", file=sys.stderr)
        return EXIT_USAGE
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            print(f"run.py: error: {shown(error.response['Error'].get('Message') or 'ExecutionAlreadyExists')}: "
                  "that name was used before; pick another --name or leave --name out", file=sys.stderr)
            return EXIT_USAGE
        print(f"run.py: error: {shown(error)}", file=sys.stderr)
        return EXIT_FAILED
    except (BotoCoreError, LocalDeployFailed) as error:
        print(f"run.py: error: {shown(error)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"run.py: interrupted {phase}", file=sys.stderr)
        return EXIT_INTERRUPTED
