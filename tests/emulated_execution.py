"""Deploying the dev stack with settings of a test's own, starting an execution on the emulator's
deployed state machine and waiting for its end."""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Iterator

import boto3
import pytest

NAMESPACE = "training-pipeline"


@contextlib.contextmanager
def deployed_with(**settings) -> Iterator:
    """The dev stack deployed into the emulator with `settings` (config keys without the project's
    namespace) over Pulumi.dev.yaml's, as `pulumi config set` would write them; yields its outputs."""
    from components.settings import PipelineSettings
    from runner.emulator import engine, local_stack

    config = {**engine.stack_config("dev"), **{f"{NAMESPACE}:{key}": value for key, value in settings.items()}}
    values = {key.partition(":")[2]: value for key, value in config.items() if key.startswith(NAMESPACE + ":")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "stack_config", lambda stack: config)
        with local_stack(
            PipelineSettings.from_config(values.get, "dev", config.get("aws:region", "us-west-2"))
        ) as outputs:
            yield outputs


def start_and_wait(outputs: dict, name: str, execution_input, timeout: float = 60) -> dict:
    """DescribeExecution once the execution has ended; `execution_input` is JSON text or a value."""
    sfn = boto3.client("stepfunctions", region_name=outputs["region"])
    payload = execution_input if isinstance(execution_input, str) else json.dumps(execution_input)
    arn = sfn.start_execution(stateMachineArn=outputs["stateMachineArn"], name=name, input=payload)["executionArn"]
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{name} still running after {timeout}s"
        time.sleep(0.05)
    return described


def states_entered(outputs: dict, execution_arn: str) -> list[str]:
    sfn = boto3.client("stepfunctions", region_name=outputs["region"])
    history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [event["stateEnteredEventDetails"]["name"] for event in history if event["type"].endswith("StateEntered")]


def objects(outputs, prefix: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", region_name=outputs["region"])
    listed = s3.list_objects_v2(Bucket=outputs["bucketName"], Prefix=prefix).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=outputs["bucketName"], Key=item["Key"])["Body"].read() for item in listed}


def invoke_seeding(outputs, event: dict) -> dict:
    """The deployed seeding function, invoked directly; its error payload (it must fail)."""
    response = boto3.client("lambda", region_name=outputs["region"]).invoke(
        FunctionName=outputs["seedFunctionName"], Payload=json.dumps(event)
    )
    payload = json.loads(response["Payload"].read())
    assert response.get("FunctionError") == "Unhandled", payload
    return payload


_names = itertools.count(1)


def _run(outputs, seed=11, rows=300, timeout=90):
    sfn = boto3.client("stepfunctions", region_name=outputs["region"])
    name = f"{outputs['jobNamePrefix']}--spot-{next(_names)}-{int(time.time())}"
    arn = sfn.start_execution(
        stateMachineArn=outputs["stateMachineArn"], name=name, input=json.dumps({"rows": rows, "seed": seed})
    )["executionArn"]
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    s3 = boto3.client("s3", region_name=outputs["region"])
    bucket = outputs["bucketName"]

    def objects(folder):
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"runs/{name}/{folder}/").get("Contents", [])
        return {
            item["Key"].rsplit("/", 1)[-1]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            for item in listed
        }

    job = boto3.client("sagemaker", region_name=outputs["region"]).describe_training_job(TrainingJobName=name)
    return name, job, objects("predictions"), objects("checkpoints")
