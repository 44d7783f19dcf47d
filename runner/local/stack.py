"""`local_stack`: the pipeline's stack on an in-process AWS emulator, for the offline rehearsal.

    with local_stack(load_stack_settings("dev")) as outputs:
        sfn = boto3.client("stepfunctions", region_name=outputs["region"])
        sfn.start_execution(stateMachineArn=outputs["stateMachineArn"],
                            name=f"{outputs['jobNamePrefix']}-...", input="{}")

Inside the block every boto3 client (any thread) talks to moto. The stack mirrors what the
Pulumi component (components/pipeline.py) deploys: a bucket, IAM roles, the seeding Lambda
(packaged and configured as components/seed_function.py says) and the state
machine rendered by `components.definition.render_definition`, the renderer the component
uses. The outputs have the keys of the real stack's outputs. On exit, running executions are stopped, local
jobs and interpreter threads are joined, the moto patches are undone and moto is reset.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
import zipfile
from pathlib import Path
from typing import Iterator

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

from components import seed_function
from components.definition import TAG_STACK, render_definition
from components.settings import PipelineSettings, project_name
from runner.local import sfn_fail_state, sfn_sagemaker
from runner.local.lambda_runtime import LocalLambdaRuntime
from runner.local.sagemaker_jobs import LocalSageMaker

log = logging.getLogger(__name__)

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
CONSOLE_URL = "local emulator (moto, in this process): no AWS console"
JOIN_SECONDS = 60.0
INTERPRETER_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": f"{service}.amazonaws.com"},
        "Action": "sts:AssumeRole"}]})


def _zip_package(source_dir: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in seed_function.source_files(source_dir):
            archive.write(path, path.relative_to(source_dir).as_posix())
    return buffer.getvalue()


def _deploy(settings: PipelineSettings, lambda_source_dir: Path,
            lambdas: LocalLambdaRuntime) -> dict[str, str]:
    region, stack = settings.region, settings.stack
    base = f"{project_name()}-{stack}"
    # boto3's default session, which the interpreter's clients (boto_client_for) use too: the
    # service models it loads here are not loaded again during the first execution.
    s3, iam = boto3.client("s3", region_name=region), boto3.client("iam", region_name=region)
    awslambda = boto3.client("lambda", region_name=region)
    sfn = boto3.client("stepfunctions", region_name=region)
    # Likewise moto's SageMaker backend, imported on its first request.
    boto3.client("sagemaker", region_name=region).list_training_jobs(MaxResults=1)

    bucket = f"{base}-local"
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **location)

    # The roles exist so the ARNs are real; moto does not evaluate IAM, and the deployed
    # policies are tested against the Pulumi program itself (tests/test_program.py).
    def role(name: str, service: str) -> str:
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust(service))["Role"]["Arn"]

    sagemaker_role = role(f"{base}-sagemaker", "sagemaker")
    function_name = f"{base}-seed"
    function_arn = awslambda.create_function(
        FunctionName=function_name, Runtime=seed_function.RUNTIME, Role=role(f"{base}-seed", "lambda"),
        Handler=seed_function.HANDLER, Code={"ZipFile": _zip_package(lambda_source_dir)},
        Timeout=seed_function.TIMEOUT_SECONDS, MemorySize=seed_function.MEMORY_MB,
        Description="Seeds a labelled dataset (offline rehearsal)",
    )["FunctionArn"]
    lambdas.register(function_name, lambda_source_dir)
    states_role = role(f"{base}-states", "states")

    definition = render_definition(settings, partition="aws", bucket=bucket,
                                   seed_function_arn=function_arn, sagemaker_role_arn=sagemaker_role)
    machine = sfn.create_state_machine(name=base, definition=definition, roleArn=states_role,
                                       type="STANDARD",
                                       tags=[{"key": TAG_STACK, "value": stack}])
    return {
        "bucketName": bucket,
        "stateMachineArn": machine["stateMachineArn"],
        "stateMachineName": base,
        "seedFunctionName": function_name,
        "sageMakerRoleArn": sagemaker_role,
        "trainingImage": settings.training_image,
        "region": region,
        "consoleUrl": CONSOLE_URL,
        "jobNamePrefix": settings.job_name_prefix,
        "runDefaults": settings.run_defaults,
    }


def _stop_executions(region: str, state_machine_arn: str) -> None:
    """Stop what still runs, so nothing calls the emulator after it is gone."""
    sfn = boto3.client("stepfunctions", region_name=region)
    try:
        for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=state_machine_arn, statusFilter="RUNNING"):
            for execution in page["executions"]:
                sfn.stop_execution(executionArn=execution["executionArn"], error="LocalStackClosed",
                                   cause="the local emulator was shut down")
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
def local_stack(settings: PipelineSettings, *,
                lambda_source_dir: Path | str | None = None) -> Iterator[dict[str, str]]:
    """Host the emulator, deploy the pipeline into it, yield the stack outputs."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    source_dir = Path(lambda_source_dir) if lambda_source_dir else seed_function.SOURCE_DIR
    if not (source_dir / (seed_function.HANDLER.rpartition(".")[0] + ".py")).is_file():
        raise FileNotFoundError(f"no seeding function in {source_dir} (expected {seed_function.HANDLER})")
    threads_before = len(TMP_THREADS)
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock_aws(config=MOTO_CONFIG))
        lambdas = stack.enter_context(LocalLambdaRuntime().installed())
        jobs = stack.enter_context(LocalSageMaker().installed())
        stack.enter_context(sfn_sagemaker.installed(jobs))
        stack.enter_context(sfn_fail_state.installed())
        stack.enter_context(_quiet_interpreter_failures())
        outputs = _deploy(settings, source_dir, lambdas)
        # Runs first on exit (LIFO), while the emulator and the patches are still in place.
        stack.callback(_join_interpreter_threads, threads_before)
        stack.callback(_stop_executions, settings.region, outputs["stateMachineArn"])
        yield outputs
