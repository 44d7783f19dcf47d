"""Starting an execution on the emulator's deployed state machine and waiting for its end."""

from __future__ import annotations

import json
import time

import boto3


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
