"""The stack a command works on: a deployed stack's outputs, a local endpoint's (`run.py serve`), or a
local stack's settings, deployed into the emulator; its AWS clients; what a new run is checked against.

The same code drives AWS and the offline rehearsal; only where the clients point differs."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator

from components.settings import DEFAULT_STACK
from runner.cli import exits, machine
from runner.cli.parser import BadArguments
from runner.endpoint import EndpointKey, served_stack, signed_get
from runner.errors import UsageError
from runner.follow import Polling
from runner.outputs import StackOutputs, load_outputs

# Polls start at the first wait and slow down to the second while nothing changes; locally the
# emulator also ends the wait the moment an execution ends.
# The training log (round, evaluation line) is read every 10 s on AWS, every 0.5 s locally.
AWS_POLLING, LOCAL_POLLING = Polling(5.0, 15.0, log_every=10.0), Polling(0.1, 0.3, log_every=0.5)
# Throttling is retried by botocore itself, with client-side rate limiting.
_RETRIES = {"mode": "adaptive", "max_attempts": 10}


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


def clients(outputs: StackOutputs) -> Clients:
    """Clients of the stack's region, or of its local endpoint."""
    return (
        Clients(outputs.region, outputs.endpoint_url, outputs.endpoint_key)
        if outputs.endpoint_url
        else Clients(outputs.region)
    )


def _endpoint_outputs(outputs: StackOutputs, source: str) -> tuple[StackOutputs, Polling]:
    """A stack on a local endpoint (`run.py serve`): its polling and its IAM report."""
    configured = os.environ.get("AWS_ENDPOINT_URL")
    if configured and configured.rstrip("/") != outputs.endpoint_url:
        raise UsageError(
            f"AWS_ENDPOINT_URL is {configured} but {source} is served on {outputs.endpoint_url}: "
            "unset AWS_ENDPOINT_URL or use the outputs of that endpoint"
        )

    def iam_report(execution_arn: str) -> dict:
        from urllib.parse import quote

        url = f"{outputs.endpoint_url}/_rehearsal/iam-report?execution={quote(execution_arn, safe='')}"
        status, _, body = signed_get(url, outputs.endpoint_key, timeout=30)
        if status != 200:
            raise OSError(f"the endpoint answered the IAM report's request with HTTP {status}")
        return json.loads(body)

    return dataclasses.replace(outputs, iam_report=iam_report), LOCAL_POLLING


@dataclasses.dataclass(frozen=True)
class RunChecks:
    """What a new run is checked against: the stack's job name prefix, bucket and run defaults."""

    job_name_prefix: str
    bucket_name: str
    run_defaults: dict

    @classmethod
    def of(cls, outputs) -> RunChecks:
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
        from runner.emulator import DeployError, local_stack, preflight
        from runner.emulator.sagemaker import container_pool
        from runner.emulator.workarounds import service_models

        with contextlib.ExitStack() as emulator:
            # One run: the image's container processes start loading now, and no more than its jobs take.
            container_pool.keep_warm(self.settings.xgboost_version, refill=False)
            emulator.callback(container_pool.close)
            emulator.enter_context(service_models.installed())
            try:
                outputs = emulator.enter_context(local_stack(self.settings))
                preflight.check_deployed(self.expected, outputs)
            except (DeployError, preflight.UnexpectedOutputs) as error:
                raise exits.LocalDeployFailed(
                    f"the program could not be deployed to the local emulator: {error}"
                ) from None
            yield (
                dataclasses.replace(
                    StackOutputs.from_dict(outputs, "the local emulator"), iam_report=outputs.iam_report
                ),
                dataclasses.replace(LOCAL_POLLING, sleep=outputs.execution_ends.sleeper()),
            )


def stack_source(args: argparse.Namespace, rows: int | None = None) -> StackSource:
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
    stack = args.stack or DEFAULT_STACK
    served = served_stack(stack)
    if served is not None:
        source = f"the endpoint {served['localEndpoint']}"
        outputs, polling = _endpoint_outputs(StackOutputs.from_dict(served, source), source)
        return StackSource(
            RunChecks.of(outputs),
            outputs=outputs,
            polling=polling,
            announce=f"using the local endpoint run.py serve holds stack {stack} on, "
            f"{served['localEndpoint']}: no deployment",
        )
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
        machine.check_machine_size(rows or settings.rows)
    expected = preflight.expected_outputs(settings)
    return StackSource(
        RunChecks.of(expected),
        settings=settings,
        expected=expected,
        announce=f"run.py: deploying stack {stack} into the local emulator ...",
    )


def served_source(args: argparse.Namespace) -> StackSource:
    """The stack of a command other than start: deployed, or with --local the one `run.py serve` keeps up
    (a --local run's emulator ends with the run, so there is none to deploy for a command)."""
    if args.local and served_stack(args.stack or DEFAULT_STACK) is None:
        past = "; past runs: run.py runs" if args.command == "list" else ""
        raise BadArguments(
            f"{args.command} --local needs the local stack `run.py serve` keeps up (a --local run's "
            f"emulator ends with the run): start run.py serve, then run.py {args.command} --local{past}"
        )
    source = stack_source(args)
    if source.announce:
        print(source.announce, file=sys.stderr, flush=True)
    return source


def on_stack(args: argparse.Namespace, command: Callable[[argparse.Namespace, Clients, StackOutputs], int]) -> int:
    """Run `command` with the clients and outputs of the stack `args` names; its errors end run.py."""

    def work(phase: exits.Phase) -> int:
        with served_source(args).deployed() as (outputs, _):
            return command(args, clients(outputs), outputs)

    return exits.reported(work)
