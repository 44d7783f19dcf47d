"""`local_stack`: the Pulumi program deployed on an in-process AWS emulator, for the offline rehearsal.

    with local_stack(load_stack_settings("dev")) as outputs:
        sfn = boto3.client("stepfunctions", region_name=outputs["region"])
        sfn.start_execution(stateMachineArn=outputs["stateMachineArn"],
                            name=f"{outputs['jobNamePrefix']}--...", input="{}")

Inside the block every boto3 client (any thread) talks to moto. The stack is what `pulumi up`
would create: `__main__.py` runs under the engine double (`runner.emulator.engine`), which
creates every resource the component registers in moto, with the stack's config
(Pulumi.<stack>.yaml); the outputs are the program's own exports. Each principal then acts
under its role's deployed policies (`runner.emulator.iam`): the seeding function, the state
machine's tasks and the SageMaker jobs; `outputs.iam_report()` tells which statement each
call used and which statements no call needed (`outputs.write_iam_report(path)` writes it);
`outputs.execution_ends.sleeper()` is a `time.sleep` that returns as soon as an execution ends.
On exit, running executions are stopped, local jobs and interpreter threads are joined, the
moto patches are undone and moto is reset.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

from components.settings import PipelineSettings, project_name
from runner.emulator import iam, preflight
from runner.emulator.awslambda import LocalLambdaRuntime
from runner.emulator.sagemaker import container_pool
from runner.emulator.sagemaker import model_registry as sagemaker_model_registry
from runner.emulator.sagemaker.jobs import LocalSageMaker
from runner.emulator.stepfunctions import definition_parse as sfn_definition_parse
from runner.emulator.stepfunctions import execution_end as sfn_execution_end
from runner.emulator.stepfunctions import fail_state as sfn_fail_state
from runner.emulator.stepfunctions import sagemaker_integration as sfn_sagemaker
from runner.emulator.workarounds import service_models

log = logging.getLogger(__name__)

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
CONSOLE_URL = "local emulator (moto, in this process): no AWS console"
JOIN_SECONDS = 60.0
INTERPRETER_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"


class DeployError(Exception):
    """The program failed under the engine double (bad config, a resource it cannot create)."""


class LocalStackOutputs(dict):
    """The stack outputs, plus the stack's access control: what each role called, under which statement."""

    access: iam.AccessControl
    execution_ends: sfn_execution_end.ExecutionEnds

    def iam_report(self, execution: str | None = None) -> dict[str, Any]:
        return self.access.report(execution)

    def write_iam_report(self, path: Path) -> None:
        """`iam.json`: per role, each call (action, resource, statement) and each statement no call needed."""
        path.write_text(json.dumps(self.iam_report(), indent=2) + "\n")


def deploy(settings: PipelineSettings) -> dict[str, Any]:
    """Run the program with the stack's config against the (active) emulator; its exports."""
    from runner.emulator.engine import EmulatorEngine, run_program, stack_config  # imports Pulumi

    config = stack_config(settings.stack)
    config.setdefault("aws:region", settings.region)
    engine = EmulatorEngine(settings.region)
    outputs, error = run_program(engine, config, project=project_name(), stack=settings.stack)
    if error is not None:
        raise DeployError(str(error)) from error
    # Nothing to open in a console: the emulator lives in this process.
    return {**outputs, "consoleUrl": CONSOLE_URL}


def _stop_executions(region: str, state_machine_arn: str) -> None:
    """Stop what still runs, so nothing calls the emulator after it is gone."""
    sfn = boto3.client("stepfunctions", region_name=region)
    try:
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=state_machine_arn, statusFilter="RUNNING"
        ):
            for execution in page["executions"]:
                sfn.stop_execution(
                    executionArn=execution["executionArn"],
                    error="LocalStackClosed",
                    cause="the local emulator was shut down",
                )
    except ClientError as error:  # e.g. the block deleted the state machine: nothing left to stop
        log.warning("could not stop the running executions: %s", error)


def _join_interpreter_threads(first: int, timeout: float = JOIN_SECONDS) -> None:
    """Join the interpreter threads started since `first` (moto keeps them in TMP_THREADS)."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    deadline = time.monotonic() + timeout
    for thread in list(TMP_THREADS[first:]):
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            log.warning("Step Functions interpreter thread %s still running at shutdown", thread.name)
    del TMP_THREADS[first:]


@contextlib.contextmanager
def _quiet_interpreter_failures() -> Iterator[None]:
    """moto logs every caught task failure at ERROR with the state's repr; the execution reports them."""
    logger = logging.getLogger(INTERPRETER_LOGGER)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def local_stack(settings: PipelineSettings) -> Iterator[LocalStackOutputs]:
    """Host the emulator, deploy the program into it, yield the stack outputs.

    A container version whose library this process does not run is refused first: its models,
    predictions and failures would not be the image's.
    """
    from moto.stepfunctions.parser.utils import TMP_THREADS

    try:
        preflight.check_settings(settings)
    except (preflight.UnsupportedVersion, preflight.TooManyHosts) as error:
        raise DeployError(str(error)) from None
    for warning in settings.warnings:
        log.warning("%s", warning)

    threads_before = len(TMP_THREADS)
    with contextlib.ExitStack() as stack:
        # The stack's image's container processes start loading now, while the stack deploys; every
        # job takes a loaded one and the next starts (container_pool; a one-run run.py --local
        # asked for no refills first); they end with the stack.
        container_pool.keep_warm(settings.xgboost_version)
        stack.callback(container_pool.close)
        stack.enter_context(service_models.installed())
        stack.enter_context(mock_aws(config=MOTO_CONFIG))
        stack.enter_context(_quiet_interpreter_failures())
        access = stack.enter_context(iam.installed(iam.AccessControl(settings.region)))
        stack.enter_context(iam.attributed())
        lambdas = stack.enter_context(LocalLambdaRuntime(access).installed())
        jobs = stack.enter_context(LocalSageMaker(access).installed())
        stack.enter_context(sfn_sagemaker.installed(jobs, access))
        stack.enter_context(sfn_fail_state.installed())
        stack.enter_context(sfn_definition_parse.installed())
        stack.enter_context(sagemaker_model_registry.installed())
        execution_ends = stack.enter_context(sfn_execution_end.installed(sfn_execution_end.ExecutionEnds()))
        outputs = LocalStackOutputs(deploy(settings))
        outputs.access, outputs.execution_ends = access, execution_ends
        # Runs first on exit (LIFO), while the emulator and the patches are still in place.
        stack.callback(_join_interpreter_threads, threads_before)
        stack.callback(lambdas.close)  # a seeding run in flight stops at its next deadline check
        stack.callback(_stop_executions, settings.region, outputs["stateMachineArn"])
        yield outputs
